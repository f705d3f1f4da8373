"""The suite's own scheduling: tests marked `xdist_group` run on one worker under `--dist loadgroup`
(.ci/run), so a group's module fixtures (a torchrun launch, a model conversion) run once. pytest-xdist
marks a grouped test by appending `@<group>` to its node id; pytest 9.2 ignores that rename (its node ids
moved), and every group was silently split across the workers (pyproject pins pytest < 9)."""

import pytest


@pytest.mark.xdist_group("suite_groups")
def test_a_grouped_test_reaches_the_scheduler_as_its_group(request):
    if not getattr(request.config.option, "loadgroup", False):  # set by pytest-xdist on its workers
        pytest.skip("only under pytest -n N --dist loadgroup (as .ci/run runs the suite)")
    assert request.node.nodeid.endswith("@suite_groups"), request.node.nodeid
