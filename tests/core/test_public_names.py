"""Names blaze exports that PyTorch does not have are mistakes a user will copy."""
import blaze


def test_no_names_pytorch_lacks():
    # blaze.maximum is torch.maximum; max_elementwise was an alias PyTorch never had
    assert not hasattr(blaze, "max_elementwise")
    assert blaze.maximum(blaze.tensor([1.0, 5.0]), blaze.tensor([3.0, 2.0])).tolist() == [3.0, 5.0]
