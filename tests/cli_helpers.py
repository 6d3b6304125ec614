"""What the tests of bad input share: one CLI call that must fail cleanly."""

from __future__ import annotations

from neurosim.front.cli import main


def one_line_error(capsys, argv, *needles) -> str:
    """Run the CLI; assert exit 2 and one stderr line holding every needle (no traceback)."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 2, (code, out, err)
    assert "Traceback" not in err
    assert err.startswith("neurosim: error: ") and err.count("\n") == 1, err
    for needle in needles:
        assert str(needle) in err, (needle, err)
    return err
