"""reference_server: the package's public face is exactly its __all__."""

import types

import reference_server


def test_all_lists_exactly_the_public_non_module_names():
    public = {
        name
        for name, value in vars(reference_server).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == set(reference_server.__all__)
