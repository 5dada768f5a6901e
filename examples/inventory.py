"""A plain library module with no otelytics import: the target of zero-code tracking."""

from __future__ import annotations


def load(n: int) -> list[int]:
    return list(range(n))


def total(items: list[int]) -> int:
    return sum(items)


class Forecaster:
    def __init__(self, window: int) -> None:
        self.window = window

    def fit(self, series: list[int]) -> Forecaster:
        self.mean = sum(series[-self.window:]) / self.window
        return self

    def predict(self, horizon: int) -> list[float]:
        return [self.mean] * horizon

    @classmethod
    def default(cls) -> Forecaster:
        return cls(3)

    @staticmethod
    def check(x: float) -> bool:
        if x < 0:
            raise ValueError("negative forecast")
        return True
