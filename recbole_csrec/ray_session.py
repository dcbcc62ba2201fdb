"""Ray, started once and the same way by every part of the package that needs it (a search's
trials, parallel teachers): joined at `address` when given, else a local Ray of its own (even
while another Ray runs on this machine: without address="local", ray.init joins that one and
refuses num_cpus), whose workers import this very copy of recbole_csrec."""
from __future__ import annotations

import os


def package_pythonpath() -> str:
    """PYTHONPATH under which workers import this copy of the package (a checkout may shadow an
    installed one), followed by the caller's."""
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    paths = [package_parent] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return os.pathsep.join(dict.fromkeys(paths))


def start_ray(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Connect to Ray, or start a local one; True when this call started it (and so must shut it
    down), False when Ray was already running in this process."""
    import ray  # lazy: slow to import, and only some commands need it

    if ray.is_initialized():
        return False
    if address:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
        return True
    os.environ["PYTHONPATH"] = package_pythonpath()
    ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.environ["PYTHONPATH"]}})
    return True
