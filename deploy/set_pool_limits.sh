#!/usr/bin/env bash
# Concurrency limit of each compute profile's pool, stored in the instance database.
# Run once per instance (and after changing a limit) with DAGSTER_HOME pointing at the
# production dagster.yaml. Pools without a limit here get `concurrency.pools.default_limit`.
#   light               local processes inside run-worker pods
#   small               many cheap pods on the standard node pool
#   small_spot          as small, on GKE Spot nodes until the final attempt (or a near deadline)
#   large               highmem nodes are few: keep room for training
#   gpu                 one step per GPU node
#   training            long, non-evictable jobs on highmem nodes
#   sagemaker_training  bounded by the account's SageMaker instance quota
set -euo pipefail

dagster instance concurrency set light 32
dagster instance concurrency set small 32
dagster instance concurrency set small_spot 32
dagster instance concurrency set large 8
dagster instance concurrency set gpu 4
dagster instance concurrency set training 2
dagster instance concurrency set sagemaker_training 4
