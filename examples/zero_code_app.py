"""An app with no otelytics code. Run it with zero-code tracking:

    OTELYTICS_INSTRUMENT="inventory:*" opentelemetry-instrument python examples/zero_code_app.py

Every public function and method of ``inventory`` becomes a span; with the otelytics distro
the spans land in ./otelytics-data (or wherever OTEL_TRACES_EXPORTER sends them).
"""

from __future__ import annotations

import inventory  # imported after start-up: patched by the post-import hook


def main() -> None:
    items = inventory.load(10)
    model = inventory.Forecaster.default().fit(items)
    forecast = model.predict(2)
    inventory.Forecaster.check(forecast[0])
    try:
        inventory.Forecaster.check(-1.0)
    except ValueError:
        pass
    print(f"RESULT total={inventory.total(items)} forecast={forecast}")


if __name__ == "__main__":
    main()
