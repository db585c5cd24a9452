from web.login_limiter import LoginLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_limit_applies_per_username_and_address_and_lifts_after_the_window():
    clock = FakeClock()
    limiter = LoginLimiter(max_failures=3, window_seconds=60, clock=clock)
    for _ in range(3):
        limiter.failed("Alice", "10.0.0.1")
    assert limiter.retry_after("alice", "10.0.0.1") == 60
    assert limiter.retry_after("alice", "10.0.0.2") == 0
    assert limiter.retry_after("bob", "10.0.0.1") == 0
    clock.now += 45
    assert limiter.retry_after("alice", "10.0.0.1") == 15
    clock.now += 15
    assert limiter.retry_after("alice", "10.0.0.1") == 0


def test_a_success_forgets_earlier_failures():
    limiter = LoginLimiter(max_failures=2, window_seconds=60, clock=FakeClock())
    limiter.failed("alice", "a")
    limiter.succeeded("alice", "a")
    limiter.failed("alice", "a")
    assert limiter.retry_after("alice", "a") == 0
