"""Quickstart: tracked estimators, a workflow and sessions, written to a Parquet dataset.

    python examples/quickstart.py            # writes ./otelytics-data (or OTELYTICS_DATA_DIR)

Deterministic (seeded) so that its figures can be checked: 3 users run a small train /
evaluate workflow; one data source is flaky and fails now and then.
"""

from __future__ import annotations

import math
import random

import otelytics


class LinearModel:
    """A one-feature least-squares model: enough real work to time."""

    def __init__(self, l2: float = 0.0) -> None:
        self.l2 = l2

    @otelytics.track
    def fit(self, xs: list[float], ys: list[float]) -> LinearModel:
        n = len(xs)
        mx, my = sum(xs) / n, sum(ys) / n
        sxx = sum((x - mx) ** 2 for x in xs) + self.l2
        self.slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
        self.intercept = my - self.slope * mx
        return self

    @otelytics.track
    def predict(self, xs: list[float]) -> list[float]:
        return [self.intercept + self.slope * x for x in xs]


@otelytics.track(capture_params=True)
def load(source: str, rows: int, rng: random.Random) -> tuple[list[float], list[float]]:
    if source == "flaky" and rng.random() < 0.3:
        raise ConnectionError(f"source {source} timed out")
    xs = [rng.uniform(0, 10) for _ in range(rows)]
    return xs, [3.0 * x + 1.0 + rng.gauss(0, 0.5) for x in xs]


@otelytics.track
def rmse(predicted: list[float], actual: list[float]) -> float:
    return math.sqrt(sum((p - a) ** 2 for p, a in zip(predicted, actual, strict=True))
                     / len(actual))


@otelytics.workflow
def train(source: str, rows: int, rng: random.Random) -> float:
    xs, ys = load(source, rows, rng)
    model = LinearModel(l2=0.1).fit(xs, ys)
    return rmse(model.predict(xs), ys)


def main() -> None:
    otelytics.configure(service_name="quickstart")
    rng = random.Random(42)
    summaries = []
    for user in ("ada", "grace", "linus"):
        with otelytics.session("training", user_id=user) as s:
            for i in range(6):
                source = "flaky" if i % 2 else "warehouse"
                try:
                    train(source, rows=200 * (i + 1), rng=rng)
                except ConnectionError:
                    pass
        summaries.append(s.summary())
    otelytics.force_flush()
    print(f"{'session user':<14}{'calls':>7}{'errors':>8}{'p50 ms':>9}{'p95 ms':>9}")
    for user, sm in zip(("ada", "grace", "linus"), summaries, strict=True):
        print(f"{user:<14}{sm.calls:>7}{sm.errors:>8}"
              f"{(sm.p50_duration_s or 0) * 1e3:>9.2f}{(sm.p95_duration_s or 0) * 1e3:>9.2f}")


if __name__ == "__main__":
    main()
