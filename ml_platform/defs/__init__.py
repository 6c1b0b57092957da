"""The products: ordinary Dagster definition modules, one file (or folder) each.

Loaded by Dagster's own loader (``ml_platform.definitions.product_definitions``): every asset,
asset check, job, schedule and sensor at a module's top level is part of the code location, and a
module's ``@dg.definitions`` function (``resources.py``) is taken as it returns. The platform then
applies its policy to what was loaded (``ml_platform.assembly``). Adding a product is adding a
module here; ``dg scaffold defs dagster.asset <product>.py`` starts one.
"""
