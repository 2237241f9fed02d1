"""Settings for the whole suite.

Hypothesis's timing checks (a per-example deadline, "input generation is slow") measure the machine,
not the code: on the shared 2-core machines CI runs on, a loaded moment fails them at random. The
properties themselves are checked in full; the benchmarks in bench/ measure speed.
"""

from hypothesis import HealthCheck, settings

settings.register_profile("memstore", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("memstore")
