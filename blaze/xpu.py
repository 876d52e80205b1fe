"""``torch.xpu``: blaze has no Intel GPU device, so programs that probe for one fall back to another."""


def is_available() -> bool:
    return False


def device_count() -> int:
    return 0


def is_initialized() -> bool:
    return False
