from tests.generation.conftest import gen_settings, knobs, sim, temporal, worker  # noqa: F401
