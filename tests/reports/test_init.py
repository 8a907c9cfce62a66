"""reports: the package's public face lists exactly what it exports."""

import reports


def test_all_names_the_public_api():
    public = {
        n
        for n in dir(reports)
        if not n.startswith("_") and not isinstance(getattr(reports, n), type(reports))
    }
    assert set(reports.__all__) == public
