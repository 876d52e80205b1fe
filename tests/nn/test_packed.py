"""PackedSequence and its helpers (torch.nn.utils.rnn), and RNN/LSTM/GRU on packed input: each packed
sequence's outputs and final state equal running that sequence alone."""
import numpy as np
import pytest

import blaze
from blaze import nn
from blaze.nn.utils.rnn import (PackedSequence, pack_padded_sequence, pack_sequence, pad_packed_sequence,
                                pad_sequence, unpack_sequence)


def _seqs(lengths, feat=3, seed=0):
    rng = np.random.default_rng(seed)
    return [blaze.tensor(rng.standard_normal((n, feat)).astype(np.float32)) for n in lengths]


def test_pad_sequence_layouts():
    a, b = blaze.tensor([1, 2, 3]), blaze.tensor([4])
    assert pad_sequence([a, b]).tolist() == [[1, 4], [2, 0], [3, 0]]                       # (T, B)
    assert pad_sequence([a, b], batch_first=True, padding_value=-1).tolist() == [[1, 2, 3], [4, -1, -1]]
    assert pad_sequence([a, b], batch_first=True, padding_side="left").tolist() == [[1, 2, 3], [0, 0, 4]]
    with pytest.raises(RuntimeError, match="after the first dimension"):
        pad_sequence([blaze.zeros(2, 3), blaze.zeros(2, 4)])


def test_pack_padded_layout_and_roundtrip():
    x = blaze.tensor([[1, 2, 3], [4, 5, 0], [6, 0, 0]])                  # (B, T), lengths 3, 2, 1
    p = pack_padded_sequence(x, [3, 2, 1], batch_first=True)
    assert p.data.tolist() == [1, 4, 6, 2, 5, 3] and p.batch_sizes.tolist() == [3, 2, 1]
    assert p.sorted_indices is None and p.unsorted_indices is None
    padded, lengths = pad_packed_sequence(p, batch_first=True, padding_value=9, total_length=4)
    assert padded.tolist() == [[1, 2, 3, 9], [4, 5, 9, 9], [6, 9, 9, 9]] and lengths.tolist() == [3, 2, 1]
    with pytest.raises(ValueError, match="total_length"):
        pad_packed_sequence(p, total_length=2)


def test_unsorted_batch_keeps_its_order():
    x = blaze.tensor([[6, 0, 0], [1, 2, 3], [4, 5, 0]])
    with pytest.raises(RuntimeError, match="sorted in decreasing order"):
        pack_padded_sequence(x, [1, 3, 2], batch_first=True)
    p = pack_padded_sequence(x, blaze.tensor([1, 3, 2]), batch_first=True, enforce_sorted=False)
    assert p.sorted_indices.tolist() == [1, 2, 0] and p.unsorted_indices.tolist() == [2, 0, 1]
    assert p.data.tolist() == [1, 4, 6, 2, 5, 3]
    padded, lengths = pad_packed_sequence(p, batch_first=True)
    assert padded.tolist() == x.tolist() and lengths.tolist() == [1, 3, 2]
    assert [s.tolist() for s in unpack_sequence(p)] == [[6], [1, 2, 3], [4, 5]]


def test_bad_lengths():
    x = blaze.zeros(2, 3)
    with pytest.raises(RuntimeError, match="greater than 0"):
        pack_padded_sequence(x, [2, 0], batch_first=True)
    with pytest.raises(RuntimeError, match="batch_size"):
        pack_padded_sequence(x, [2], batch_first=True)
    with pytest.raises(RuntimeError, match="longer than the padded input"):
        pack_padded_sequence(x, [4, 1], batch_first=True)


def test_gradient_flows_through_pack_and_pad():
    x = blaze.randn(4, 3, 2, requires_grad=True)                         # (T, B, F)
    p = pack_padded_sequence(x, [4, 2, 1])
    out, _ = pad_packed_sequence(PackedSequence(p.data * 2, p.batch_sizes))
    out.sum().backward()
    mask = np.zeros((4, 3, 1), np.float32)
    mask[:4, 0] = mask[:2, 1] = mask[:1, 2] = 1
    np.testing.assert_array_equal(x.grad.numpy(), 2 * np.broadcast_to(mask, (4, 3, 2)))


@pytest.mark.parametrize("cls,bidirectional,layers", [(nn.LSTM, False, 1), (nn.LSTM, True, 2), (nn.GRU, True, 1),
                                                      (nn.RNN, False, 2)])
def test_rnn_on_packed_equals_each_sequence_alone(cls, bidirectional, layers):
    blaze.manual_seed(0)
    rnn = cls(3, 5, num_layers=layers, bidirectional=bidirectional).requires_grad_(False)
    lengths = [2, 5, 1, 5, 3]                                            # unsorted, with repeats
    seqs = _seqs(lengths)
    D = 2 if bidirectional else 1
    rng = np.random.default_rng(1)
    h0 = blaze.tensor(rng.standard_normal((layers * D, 5, 5)).astype(np.float32))
    hx = (h0, h0 * 0.5) if cls is nn.LSTM else h0
    out, hn = rnn(pack_sequence(seqs, enforce_sorted=False), hx)
    assert isinstance(out, PackedSequence)
    padded, got_len = pad_packed_sequence(out, batch_first=True)
    assert got_len.tolist() == lengths and tuple(padded.shape) == (5, 5, D * 5)
    hn = hn if cls is nn.LSTM else (hn,)
    for b, s in enumerate(seqs):
        one_hx = tuple(h[:, b:b + 1] for h in ((h0, h0 * 0.5) if cls is nn.LSTM else (h0,)))
        ref, ref_hn = rnn(s.unsqueeze(1), one_hx if cls is nn.LSTM else one_hx[0])
        np.testing.assert_allclose(padded[b, :lengths[b]].numpy(), ref[:, 0].numpy(), rtol=1e-5, atol=1e-6)
        assert np.all(padded[b, lengths[b]:].numpy() == 0)
        ref_hn = ref_hn if cls is nn.LSTM else (ref_hn,)
        for got, want in zip(hn, ref_hn):
            np.testing.assert_allclose(got[:, b].numpy(), want[:, 0].numpy(), rtol=1e-5, atol=1e-6)


def test_packed_lstm_gradients_match_separate_runs():
    blaze.manual_seed(0)
    lstm = nn.LSTM(3, 4, bidirectional=True)
    seqs = _seqs([4, 2, 3], seed=2)
    _, (h, _) = lstm(pack_sequence(seqs, enforce_sorted=False))
    h.sum().backward()
    packed_grad = lstm.weight_hh_l0_reverse.grad.numpy().copy()
    lstm.zero_grad()
    for s in seqs:
        _, (h1, _) = lstm(s.unsqueeze(1))
        h1.sum().backward()
    np.testing.assert_allclose(packed_grad, lstm.weight_hh_l0_reverse.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_packed_input_size_checked():
    with pytest.raises(RuntimeError, match="input_size"):
        nn.GRU(3, 4)(pack_sequence(_seqs([2, 1], feat=2)))


def test_packed_lstm_on_cuda_matches_cpu():
    blaze.manual_seed(0)
    lstm = nn.LSTM(3, 4, bidirectional=True).requires_grad_(False)
    seqs = _seqs([2, 4, 3], seed=6)
    out, (h, c) = lstm(pack_sequence(seqs, enforce_sorted=False))
    packed = pack_sequence([s.to("cuda") for s in seqs], enforce_sorted=False)
    out_c, (h_c, c_c) = lstm.to("cuda")(packed)
    assert out_c.data.device.type == "cuda" and out_c.batch_sizes.device.type == "cpu"
    for got, want in [(out_c.data, out.data), (h_c, h), (c_c, c)]:
        np.testing.assert_allclose(got.cpu().numpy(), want.numpy(), rtol=1e-5, atol=1e-6)
