"""Container entry point that reassembles a step's serialized arguments from chunked env vars.

SageMaker caps each environment value at 256 characters, and Dagster's compressed step
arguments are longer, so the SageMaker step handler splits them into numbered variables;
this module joins them into ``DAGSTER_COMPRESSED_EXECUTE_STEP_ARGS`` and execs the step command
(``python -m ml_platform.compute.step_entrypoint dagster api execute_step``).
"""

import os
import sys

CHUNK_PREFIX = "ML_PLATFORM_STEP_ARGS_"
CHUNK_SIZE = 256
STEP_ARGS_ENV = "DAGSTER_COMPRESSED_EXECUTE_STEP_ARGS"


def chunk_env(value: str) -> dict[str, str]:
    return {f"{CHUNK_PREFIX}{i // CHUNK_SIZE:03d}": value[i : i + CHUNK_SIZE] for i in range(0, len(value), CHUNK_SIZE)}


def join_env(env: dict[str, str]) -> str:
    return "".join(env[name] for name in sorted(n for n in env if n.startswith(CHUNK_PREFIX)))


def main(argv: list[str]) -> None:
    if not argv:
        sys.exit("usage: python -m ml_platform.compute.step_entrypoint <step command...>")
    env = {k: v for k, v in os.environ.items() if not k.startswith(CHUNK_PREFIX)}
    env[STEP_ARGS_ENV] = join_env(dict(os.environ))
    if not env[STEP_ARGS_ENV]:
        sys.exit(f"no {CHUNK_PREFIX}* variables in the environment: nothing to execute")
    os.execvpe(argv[0], argv, env)


if __name__ == "__main__":
    main(sys.argv[1:])
