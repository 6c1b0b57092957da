"""SageMaker instance sizes within a family, for automatic memory and out-of-memory retries.

Memory is the instance's nominal memory (AWS's instance-type table); the container gets a little
less, which the automatic-memory margin covers. Only families listed here can be sized; another
instance type keeps its declared size.
"""

GIB = 2**30

# family -> (size, memory GiB), smallest first
FAMILIES: dict[str, tuple[tuple[str, int], ...]] = {
    "ml.m5": (("large", 8), ("xlarge", 16), ("2xlarge", 32), ("4xlarge", 64), ("12xlarge", 192), ("24xlarge", 384)),
    "ml.r5": (("large", 16), ("xlarge", 32), ("2xlarge", 64), ("4xlarge", 128), ("12xlarge", 384), ("24xlarge", 768)),
    "ml.c5": (("large", 4), ("xlarge", 8), ("2xlarge", 16), ("4xlarge", 32), ("9xlarge", 72), ("18xlarge", 144)),
}


def _ladder(instance_type: str) -> list[tuple[str, int]]:
    family, _, _ = instance_type.rpartition(".")
    return [(f"{family}.{size}", gib * GIB) for size, gib in FAMILIES.get(family, ())]


def instance_memory_bytes(instance_type: str) -> int:
    for name, memory in _ladder(instance_type):
        if name == instance_type:
            return memory
    raise KeyError(f"unknown SageMaker instance type '{instance_type}' (sized families: {', '.join(FAMILIES)})")


def smallest_instance_holding(instance_type: str, memory_bytes: int) -> str:
    """The smallest type of ``instance_type``'s family with at least ``memory_bytes``; the largest if none."""
    ladder = _ladder(instance_type)
    if not ladder:
        return instance_type
    return next((name for name, memory in ladder if memory >= memory_bytes), ladder[-1][0])


def next_instance(instance_type: str) -> str | None:
    """The next size up in the same family, or None at the top."""
    names = [name for name, _ in _ladder(instance_type)]
    position = names.index(instance_type) if instance_type in names else len(names)
    return names[position + 1] if position + 1 < len(names) else None
