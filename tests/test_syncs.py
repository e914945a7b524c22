"""Host-device synchronizations per generator update between log steps (issue 39): at most one, the
finite checks of the iteration read back together. Counted on the CPU by wrapping the tensor methods
that wait for a device (benchmarks/syncs.py); speed is a benchmark, never a test."""

from benchmarks.syncs import count_syncs


def test_at_most_one_sync_per_generator_update_between_log_steps():
    result = count_syncs(steps=10, skip=3, accelerator_path=True, extra=["--data.init_args.batch_size", "16"])
    assert result["updates"] == 6
    assert result["per_update"] <= 1, result["calls"]


def test_the_count_sees_each_check_read_at_once_on_the_cpu_path():
    # the CPU's way reads every update's check: n_critic 5 + the generator's = 6 per iteration, all counted
    result = count_syncs(steps=8, skip=3, accelerator_path=False, extra=["--data.init_args.batch_size", "16"])
    assert result["per_update"] == 6, result["calls"]
