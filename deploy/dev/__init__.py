"""Development tooling run from the checkout (make run / bench / soak / pi-check); never shipped to the Pi."""
