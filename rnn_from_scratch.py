"""A character-level recurrent neural network in plain Python.

One file, standard library only: read it top to bottom. It trains a vanilla
RNN to predict the next character of a text file, then writes new text.

For each position t, with x_t the index of the input character:

    h_t = tanh(U[:, x_t] + W·h_{t-1} + b)   hidden state   (hidden)
    o_t = V·h_t + c                         scores         (vocab)
    p_t = softmax(o_t)                      probabilities of the next char
    L   = Σ_t -log p_t[y_t]                 cross-entropy; y_t = next char

U[:, x_t] is U times a one-hot vector, done as a column lookup. Training
runs backpropagation through time over chunks of SEQUENCE_LENGTH chars,
carries h from chunk to chunk, clips each gradient entry to [-5, 5] and
updates with Adagrad:  memory += g²;  param -= rate·g / sqrt(memory + 1e-8).

--cell gru and --cell lstm swap the tanh line for a gated cell (classes GRU
and LSTM below the vanilla one, with their equations); the output layer,
the loss, training and sampling stay the same.

Run:  python rnn_from_scratch.py                       train, then sample
      python rnn_from_scratch.py --cell lstm           the same with an LSTM
      python rnn_from_scratch.py --generate "Once"     sample from model.json
      python rnn_from_scratch.py --gradient-flow TEXT  the vanishing gradient
      python rnn_from_scratch.py --activations TEXT    units and gates, as HTML
      python rnn_from_scratch.py --evaluate FILE       bits/char on a file
      python rnn_from_scratch.py --check               check the backprop
      python rnn_from_scratch.py --help                every flag

Sections, in order. The model: list-math helpers, the recurrent neural
network, gated cells, the GRU cell, the LSTM cell. The tools: data,
vocabulary and model files; training; sampling and inference; checking
the backward pass (--check); looking inside (gradient flow, single
units, units that mean something, how the gates saturate); measuring
(a counting baseline, the network against counting, --evaluate, copied
text, --compare); charts; main.
"""

# --- imports -----------------------------------------------------------------

import argparse
import difflib
import html
import json
import math
import os
import random
import re
import shlex
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from operator import mul

# --- constants: edit these, or pass the matching --flag ----------------------

DATA_PATH = "data.txt"        # training text, UTF-8; 2 characters or more
MODEL_PATH = "model.json"     # checkpoint; vocab.json, config.json go beside
CELL = "rnn"                  # rnn (vanilla), gru or lstm: see the classes
HIDDEN_SIZE = 64              # hidden units; 16-256, time grows as hidden²
SEQUENCE_LENGTH = 25          # chars per chunk of backprop; 10-100
LEARNING_RATE = 0.05          # Adagrad step size; 0.01-0.2, too high diverges
MAX_ITERATIONS = 12000        # updates, one chunk each; 1,000-1,000,000
SAMPLE_EVERY = 2000           # sample, validate and save this often
SAMPLE_LENGTH = 300           # characters per sample; 0-10,000
PRIME_TEXT = "Once upon a time"  # fed in before sampling; chars of the data
TEMPERATURE = 0.5             # 1.0 = no change, < 1.0 safer, > 1.0 wilder
                              # 0 = greedy: always the likeliest character
TOP_K = 0                     # draw among the K likeliest chars; 0 = all
VALIDATION_FRACTION = 0.1     # last part of the data held out; 0-0.5
LOG_EVERY = 100               # print a progress line this often
SEED = 42                     # same seed, same weights and samples
FLOW_STEPS = 50               # --gradient-flow looks this many steps back
NGRAM_ORDER = 8               # counting baseline: n-grams of orders 1 to this
NGRAM_MAX_CHARS = 2000000     # it counts at most this many training chars

# --- list-math helpers -------------------------------------------------------
# Vectors are lists of floats; matrices are lists of rows.

if hasattr(math, "sumprod"):
    dot = math.sumprod  # CPython 3.12+: one C loop over both lists
else:
    def dot(a, b):
        """Inner product: map(mul) runs in C, so no bytecode per element."""
        return sum(map(mul, a, b))


def matvec(matrix, vector):
    """matrix·vector for matrix rows×cols, vector cols -> rows."""
    return [dot(row, vector) for row in matrix]


def transpose(matrix):
    """rows×cols -> cols×rows. Rows stay lists: PyPy stores a list of floats
    unboxed, which makes dot over it several times faster than over tuples."""
    return [list(column) for column in zip(*matrix)]


def outer_sum(a_vectors, b_vectors):
    """Σ_t a_t b_tᵀ for T vectors a_t (n) and b_t (m) -> n×m matrix.

    Computed as one matrix product: entry (i, j) is the dot of a's i-th
    column with b's j-th column, so the loop over t runs in C.
    """
    b_columns = transpose(b_vectors)
    return [[dot(a_column, b_column) for b_column in b_columns]
            for a_column in transpose(a_vectors)]


def softmax(scores):
    """Probabilities and log-sum-exp of scores; subtract the max so exp never
    overflows. -log p[y] is then lse - scores[y], which never takes log(0)."""
    top = max(scores)
    exps = [math.exp(s - top) for s in scores]
    total = sum(exps)
    return [e / total for e in exps], top + math.log(total)


def pick_next(scores, temperature, top_k, rng):
    """Index of the next character from its scores: the highest if
    temperature is 0 (greedy), else drawn from softmax(scores/temperature),
    only among the top_k highest scores if top_k > 0."""
    if temperature == 0:
        return max(range(len(scores)), key=scores.__getitem__)
    choices = range(len(scores))
    if top_k:
        # the top_k in index order, so that a top_k which cuts nothing
        # draws the same characters as top_k = 0
        keep = set(sorted(choices, key=lambda i: -scores[i])[:top_k])
        choices = [i for i in choices if i in keep]
    probs, _ = softmax([scores[i] / temperature for i in choices])
    return rng.choices(choices, weights=probs)[0]


def zeros_like(param):
    """0.0 everywhere, shaped like param (a vector or a matrix)."""
    if isinstance(param[0], list):
        return [[0.0] * len(row) for row in param]
    return [0.0] * len(param)


def gaussian_matrix(rows, cols, std, rng):
    """rows×cols matrix drawn from N(0, std²)."""
    return [[rng.gauss(0.0, std) for _ in range(cols)] for _ in range(rows)]


# --- the recurrent neural network --------------------------------------------

PARAM_NAMES = ("U", "W", "V", "b", "c")


class RecurrentNeuralNetwork:
    """Vanilla RNN. U: hidden×vocab, W: hidden×hidden, V: vocab×hidden,
    b: hidden, c: vocab. Plain lists of floats, which you may edit."""

    def __init__(self, vocab_size, hidden_size, seed=None):
        rng = random.Random(seed)
        # std 1/sqrt(terms summed): U adds one column, W·h sums `hidden`
        # terms; V starts tiny, so the first guesses are uniform
        self.U = gaussian_matrix(hidden_size, vocab_size, 1.0, rng)
        self.W = gaussian_matrix(hidden_size, hidden_size,
                                 hidden_size ** -0.5, rng)
        self.V = gaussian_matrix(vocab_size, hidden_size, 0.01, rng)
        self.b = [0.0] * hidden_size
        self.c = [0.0] * vocab_size
        # Adagrad memory: running sum of squared gradients, one per weight
        self.memory = {name: zeros_like(getattr(self, name))
                       for name in PARAM_NAMES}

    def zero_state(self):
        """h = 0: the state before the first character."""
        return [0.0] * len(self.b)

    def step(self, x, h):
        """h_t = tanh(U[:, x] + W·h + b) for input index x; h: hidden."""
        return [math.tanh(U_row[x] + dot(W_row, h) + b_i)
                for U_row, W_row, b_i in zip(self.U, self.W, self.b)]

    def scores(self, h):
        """o_t = V·h + c: one score per vocabulary character."""
        return [dot(V_row, h) + c_i for V_row, c_i in zip(self.V, self.c)]

    def loss_and_gradients(self, inputs, targets, h_prev):
        """Forward and backward over one chunk of T = len(inputs) chars.

        Returns (loss: nats summed over the chunk, grads: {"U", ..., "c"}
        shaped like the parameters, exact and unclipped, h_last: hidden).
        """
        T = len(inputs)
        hs, ps = {-1: list(h_prev)}, {}
        loss = 0.0
        for t in range(T):                               # forward pass
            hs[t] = self.step(inputs[t], hs[t - 1])      # hidden state
            o = self.scores(hs[t])                       # scores
            ps[t], lse = softmax(o)                      # probabilities
            loss += lse - o[targets[t]]                  # -log p_t[y_t]

        VT, WT = transpose(self.V), transpose(self.W)    # columns as rows
        dU = zeros_like(self.U)
        dys, dh_raws = [None] * T, [None] * T
        dh_next = [0.0] * len(self.b)                    # from step t+1
        for t in reversed(range(T)):                     # backward pass
            dy = list(ps[t])
            dy[targets[t]] -= 1.0                        # dL/do = p - onehot
            dh = [dot(V_col, dy) + n                     # backprop into h
                  for V_col, n in zip(VT, dh_next)]
            dh_raw = [(1.0 - h * h) * d                  # backprop thru tanh
                      for h, d in zip(hs[t], dh)]
            for i, d in enumerate(dh_raw):               # dU[:, x_t] += dh_raw
                dU[i][inputs[t]] += d
            dh_next = matvec(WT, dh_raw)                 # Wᵀ·dh_raw, to t-1
            dys[t], dh_raws[t] = dy, dh_raw

        h_prevs = [hs[t - 1] for t in range(T)]
        h_nows = [hs[t] for t in range(T)]
        grads = {"U": dU,
                 "W": outer_sum(dh_raws, h_prevs),       # Σ dh_raw h_{t-1}ᵀ
                 "V": outer_sum(dys, h_nows),            # Σ dy h_tᵀ
                 "b": [sum(col) for col in zip(*dh_raws)],  # Σ dh_raw
                 "c": [sum(col) for col in zip(*dys)]}      # Σ dy
        return loss, grads, hs[T - 1]

    def update(self, grads, learning_rate):
        """Clip each gradient entry to [-5, 5], then take an Adagrad step.
        grads itself is left as it was."""
        for name in PARAM_NAMES:
            param, memory, grad = (getattr(self, name), self.memory[name],
                                   grads[name])
            if name in ("b", "c"):                       # a vector: one row
                param, memory, grad = [param], [memory], [grad]
            for p_row, m_row, g_row in zip(param, memory, grad):
                g_row = [g if -5.0 <= g <= 5.0 else math.copysign(5.0, g)
                         for g in g_row]                 # clip
                m_row[:] = [m + g * g                    # memory += g²
                            for m, g in zip(m_row, g_row)]
                p_row[:] = [p - learning_rate * g / math.sqrt(m + 1e-8)
                            for p, g, m in zip(p_row, g_row, m_row)]

    def sample(self, h, first_index, length, temperature=1.0, rng=None,
               top_k=0):
        """Feed first_index, then draw `length` characters, feeding each
        back in. h: hidden state before first_index. Returns the indices
        drawn. temperature and top_k: see pick_next."""
        rng = rng or random.Random()
        x, drawn = first_index, []
        for _ in range(length):
            h = self.step(x, h)
            x = pick_next(self.scores(h), temperature, top_k, rng)
            drawn.append(x)
        return drawn


# --- gated cells: what the GRU and the LSTM share ----------------------------
# A gated cell stacks G blocks of `hidden` rows in U, W and b, one block per
# gate, in PyTorch's order. GatedRNN is the vanilla class with the tanh line
# taken out:
#   kept from RecurrentNeuralNetwork: update and sample, unchanged, and the
#       output layer (scores), read through the state's h;
#   replaced here: __init__ (G blocks of U, W and b), zero_state, step, and
#       loss_and_gradients, the same chunk loop as the vanilla one, calling
#       the cell's step_forward and step_backward for each character;
#   left to GRU and LSTM: GATES, step_forward and step_backward (and the
#       LSTM's (h, s) state and forget-gate bias).

def sigmoid(x):
    """σ(x) = 1 / (1 + e^-x), computed as 0.5 + 0.5·tanh(x/2): the same
    number, but exp never overflows for a large |x|."""
    return 0.5 + 0.5 * math.tanh(0.5 * x)


def hidden_of(state):
    """h of a state: the state itself, or the h of an LSTM's (h, s)."""
    return state[0] if isinstance(state, tuple) else state


class GatedRNN(RecurrentNeuralNetwork):
    """Base of GRU and LSTM. U: (G·hidden)×vocab, W: (G·hidden)×hidden,
    b: G·hidden, stacked block by block; V: vocab×hidden, c: vocab.
    A subclass sets GATES (G) and writes step_forward and step_backward."""

    def __init__(self, vocab_size, hidden_size, seed=None):
        rng = random.Random(seed)
        rows = self.GATES * hidden_size
        # each block initialised like the vanilla RNN's U, W and b (for
        # the GRU, 0.1 bits/char better than PyTorch's init; see README)
        self.U = gaussian_matrix(rows, vocab_size, 1.0, rng)
        self.W = gaussian_matrix(rows, hidden_size, hidden_size ** -0.5, rng)
        self.V = gaussian_matrix(vocab_size, hidden_size, 0.01, rng)
        self.b = [0.0] * rows
        self.c = [0.0] * vocab_size
        self.memory = {name: zeros_like(getattr(self, name))
                       for name in PARAM_NAMES}

    def zero_state(self):
        """h = 0: the state before the first character."""
        return [0.0] * len(self.V[0])

    def step(self, x, state):
        """The state after input index x."""
        return self.step_forward(x, state)[0]

    def scores(self, state):
        """o_t = V·h_t + c, from the state's h."""
        return super().scores(hidden_of(state))

    def loss_and_gradients(self, inputs, targets, state):
        """Forward and backward over one chunk, as the vanilla RNN's, with
        the cell's step_forward and step_backward for each character.
        Returns (loss in nats, grads exact and unclipped, last state)."""
        T = len(inputs)
        states, caches, ps = {-1: state}, {}, {}
        loss = 0.0
        for t in range(T):                               # forward pass
            states[t], caches[t] = self.step_forward(inputs[t], states[t - 1])
            o = self.scores(states[t])                   # scores
            ps[t], lse = softmax(o)                      # probabilities
            loss += lse - o[targets[t]]                  # -log p_t[y_t]

        VT, WT = transpose(self.V), transpose(self.W)    # columns as rows
        dU = zeros_like(self.U)
        dys, das, dWhs = [None] * T, [None] * T, [None] * T
        # dL/d(state_t) from step t+1: zero past the chunk's end. It has
        # the state's shape, h or (h, s), so zero_state() makes it
        d_next = self.zero_state()
        for t in reversed(range(T)):                     # backward pass
            dy = list(ps[t])
            dy[targets[t]] -= 1.0                        # dL/do = p - onehot
            dh_out = [dot(V_col, dy) for V_col in VT]    # Vᵀ·dy, into h_t
            da, dWh, d_next = self.step_backward(        # through the cell
                dh_out, d_next, caches[t], WT)
            for i, d in enumerate(da):                   # dU[:, x_t] += da
                dU[i][inputs[t]] += d
            dys[t], das[t], dWhs[t] = dy, da, dWh

        h_prevs = [hidden_of(states[t - 1]) for t in range(T)]
        h_nows = [hidden_of(states[t]) for t in range(T)]
        grads = {"U": dU,
                 "W": outer_sum(dWhs, h_prevs),          # Σ dWh h_{t-1}ᵀ
                 "V": outer_sum(dys, h_nows),            # Σ dy h_tᵀ
                 "b": [sum(col) for col in zip(*das)],   # Σ da
                 "c": [sum(col) for col in zip(*dys)]}   # Σ dy
        return loss, grads, states[T - 1]


# --- the GRU cell ------------------------------------------------------------

class GRU(GatedRNN):
    """Gated recurrent unit; blocks r, z, n as in PyTorch's nn.GRU. With
    a = U[:, x] + b and Wh = W·h, both 3·hidden, split into blocks:

        r  = σ(a_r + Wh_r)                           reset gate
        z  = σ(a_z + Wh_z)                           update gate
        n  = tanh(a_n + r ⊙ Wh_n)                    candidate
        h' = (1 - z) ⊙ n + z ⊙ h                     new hidden state
    """

    GATES = 3

    def step_forward(self, x, h):
        """(h', cache for step_backward) for input index x; h: hidden."""
        H = len(h)
        a = [U_row[x] + b_i for U_row, b_i in zip(self.U, self.b)]
        Wh = matvec(self.W, h)                           # W·h, all blocks
        r = [sigmoid(ai + wi) for ai, wi in zip(a[:H], Wh[:H])]
        z = [sigmoid(ai + wi) for ai, wi in zip(a[H:2 * H], Wh[H:2 * H])]
        n = [math.tanh(ai + ri * wi)                     # candidate
             for ai, ri, wi in zip(a[2 * H:], r, Wh[2 * H:])]
        h_new = [(1.0 - zi) * ni + zi * hi for zi, ni, hi in zip(z, n, h)]
        return h_new, (h, r, z, n, Wh[2 * H:])

    def step_backward(self, dh_out, dh_next, cache, WT):
        """One step back. dh_out: Vᵀ·dy, the part of dL/dh' that comes
        through this step's output; dh_next: the part through step t+1
        (both hidden). cache: (h, r, z, n, Wh_n) from step_forward, Wh_n
        being the n block of W·h. WT: W transposed, hidden×(3·hidden).
        Returns (da, dWh, dh_prev): dL/da and dL/d(Wh), the gradients of
        a = U[:, x] + b and Wh = W·h (3·hidden each), and dL/dh (hidden),
        which step t-1 receives as its dh_next."""
        h, r, z, n, Wh_n = cache
        dh = [d1 + d2 for d1, d2 in zip(dh_out, dh_next)]  # all of dL/dh'
        dn_raw = [d * (1.0 - zi) * (1.0 - ni * ni)       # thru (1-z)n, tanh
                  for d, zi, ni in zip(dh, z, n)]
        dz_raw = [d * (hi - ni) * zi * (1.0 - zi)        # thru z(h-n), σ
                  for d, hi, ni, zi in zip(dh, h, n, z)]
        dr_raw = [d * wi * ri * (1.0 - ri)               # thru r ⊙ Wh_n, σ
                  for d, wi, ri in zip(dn_raw, Wh_n, r)]
        da = dr_raw + dz_raw + dn_raw                    # a adds to all 3
        dWh = dr_raw + dz_raw + [d * ri                  # Wh_n is scaled
                                 for d, ri in zip(dn_raw, r)]  # by r
        dh_prev = [d * zi + dot(W_col, dWh)              # z ⊙ dh + Wᵀ·dWh
                   for d, zi, W_col in zip(dh, z, WT)]
        return da, dWh, dh_prev


# --- the LSTM cell -----------------------------------------------------------

class LSTM(GatedRNN):
    """Long short-term memory; blocks i, f, g, o as in PyTorch's nn.LSTM.
    The state is (h, s), s being the cell state. With the pre-activation
    pre = U[:, x] + b + W·h (4·hidden), split into blocks:

        i  = σ(pre_i)                                input gate
        f  = σ(pre_f)                                forget gate
        g  = tanh(pre_g)                             candidate
        o  = σ(pre_o)                                output gate
        s' = f ⊙ s + i ⊙ g                           new cell state
        h' = o ⊙ tanh(s')                            new hidden state
    """

    GATES = 4

    def __init__(self, vocab_size, hidden_size, seed=None):
        super().__init__(vocab_size, hidden_size, seed)
        # forget-gate bias 1: f starts near σ(1) = 0.73, so the cell state
        # and its gradient carry over several steps from the first update
        # (10 steps back, about 7x the gradient of bias 0; see README)
        self.b[hidden_size:2 * hidden_size] = [1.0] * hidden_size

    def zero_state(self):
        """(h, s) = (0, 0): the state before the first character."""
        return [0.0] * len(self.V[0]), [0.0] * len(self.V[0])

    def step_forward(self, x, state):
        """((h', s'), cache for step_backward) for input index x."""
        h, s = state
        H = len(h)
        pre = [U_row[x] + b_i + dot(W_row, h)            # all four blocks
               for U_row, W_row, b_i in zip(self.U, self.W, self.b)]
        i = [sigmoid(v) for v in pre[:H]]                # input gate
        f = [sigmoid(v) for v in pre[H:2 * H]]           # forget gate
        g = [math.tanh(v) for v in pre[2 * H:3 * H]]     # candidate
        o = [sigmoid(v) for v in pre[3 * H:]]            # output gate
        s_new = [fi * si + ii * gi for fi, si, ii, gi in zip(f, s, i, g)]
        tanh_s = [math.tanh(v) for v in s_new]
        h_new = [oi * ti for oi, ti in zip(o, tanh_s)]
        return (h_new, s_new), (s, i, f, g, o, tanh_s)

    def step_backward(self, dh_out, d_next, cache, WT):
        """One step back. dh_out: Vᵀ·dy, the part of dL/dh' that comes
        through this step's output (hidden); d_next: the pair (dh_next,
        ds_next), dL/dh' and dL/ds' through step t+1. cache: (s, i, f, g,
        o, tanh_s) from step_forward, s being the previous cell state and
        tanh_s = tanh(s'). WT: W transposed, hidden×(4·hidden). Returns
        (dpre, dpre, (dh_prev, ds_prev)): dL/d(pre) (4·hidden) twice,
        because U[:, x] + b and W·h add into the same pre, then the pair
        that step t-1 receives as its d_next."""
        s, i, f, g, o, tanh_s = cache
        dh_next, ds_next = d_next
        dh = [d1 + d2 for d1, d2 in zip(dh_out, dh_next)]  # all of dL/dh'
        ds = [d_s + d * oi * (1.0 - ti * ti)             # thru tanh(s'),
              for d_s, d, oi, ti in zip(ds_next, dh, o, tanh_s)]  # + ds'
        di_raw = [d * gi * ii * (1.0 - ii)               # thru i ⊙ g, σ
                  for d, gi, ii in zip(ds, g, i)]
        df_raw = [d * si * fi * (1.0 - fi)               # thru f ⊙ s, σ
                  for d, si, fi in zip(ds, s, f)]
        dg_raw = [d * ii * (1.0 - gi * gi)               # thru i ⊙ g, tanh
                  for d, ii, gi in zip(ds, i, g)]
        do_raw = [d * ti * oi * (1.0 - oi)               # thru o ⊙ tanh, σ
                  for d, ti, oi in zip(dh, tanh_s, o)]
        dpre = di_raw + df_raw + dg_raw + do_raw         # all four blocks
        dh_prev = matvec(WT, dpre)                       # Wᵀ·dpre, to t-1
        ds_prev = [d * fi for d, fi in zip(ds, f)]       # thru f ⊙ s, to t-1
        return dpre, dpre, (dh_prev, ds_prev)


CELLS = {"rnn": RecurrentNeuralNetwork, "gru": GRU, "lstm": LSTM}


# --- data, vocabulary and model files ----------------------------------------

class UserError(Exception):
    """A mistake in the user's input: main() prints it as one line,
    'error: ...', and exits with status 2."""


def read_text(path, hint="pass --data with the path of a text file"):
    """The text of a UTF-8 file, with Windows line endings made \\n. hint:
    what to do if there is no such file."""
    if not os.path.isfile(path):
        problem = "is a folder" if os.path.isdir(path) else "was not found"
        raise UserError(f"data file {path} {problem}; {hint}")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise UserError(f"cannot read data file {path}: {e.strerror}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise UserError(f"{path} is not valid UTF-8: byte "
                        f"0x{raw[e.start]:02x} at byte offset {e.start} "
                        f"(line {line}); "
                        f"save the file as UTF-8 and try again")
    text = text.lstrip("\ufeff").replace("\r\n", "\n")
    if len(text) < 2:
        size = "is empty" if not text else "has only 1 character"
        raise UserError(f"data file {path} {size}; it needs at least 2 "
                        f"characters (an input and the next one to predict)")
    return text


def show_chars(chars, limit=60):
    """Characters as Python literals, e.g. 'a' '\\n', shortened if long."""
    shown = " ".join(repr(ch) for ch in chars)
    return shown if len(shown) <= limit else shown[:limit - 3] + "..."


def encode(text, vocab, what="the text", source="the vocabulary"):
    """Indices of text's characters in vocab. An unknown character is an
    error naming it; `what` names the text and `source` the vocab's file."""
    index = {ch: i for i, ch in enumerate(vocab)}
    unknown = sorted(set(text) - set(index))
    if unknown:
        allowed = repr("".join(vocab))
        if len(allowed) > 100:
            allowed = allowed[:96] + "..." + allowed[0]   # keep the quote
        raise UserError(f"{what} has characters that are not in {source}: "
                        f"{show_chars(unknown)}; allowed ({len(vocab)}): "
                        f"{allowed}")
    return [index[ch] for ch in text]


def write_atomically(path, text):
    """Write a temp file in the same folder, fsync it, then os.replace it
    over path: a crash mid-save leaves the old file whole. The file gets
    a normal file's mode under the umask (0644 under umask 022), not the
    temp file's 0600."""
    folder = os.path.dirname(os.path.abspath(path))
    umask = os.umask(0o022)             # read the umask: set it, set it back
    os.umask(umask)
    try:
        fd, temp_path = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(temp_path, 0o666 & ~umask)
            os.replace(temp_path, path)
        except BaseException:
            os.remove(temp_path)
            raise
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror}")


def check_writable(path):
    """Fail now, not after an hour of training, if path can't be written."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UserError(f"--model {path} is a folder; give a file name")
    if not os.path.isdir(folder):
        raise UserError(f"cannot write --model {path}: "
                        f"folder {folder} does not exist")
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise UserError(f"cannot write --model {path}: {e.strerror}")


def cell_name(model):
    """"rnn", "gru" or "lstm": the key of the model's class in CELLS."""
    return next(name for name, cls in CELLS.items() if type(model) is cls)


def save_model(path, model, vocab, config, progress):
    """Save the cell, weights, Adagrad memory, vocabulary, config and
    training progress (iteration, position, h, smooth_loss, history) as
    JSON. An LSTM's h is saved as [h, s]."""
    checkpoint = {"format": "rnn_from_scratch model 1",
                  "cell": cell_name(model), "vocab": vocab, "config": config,
                  "params": {n: getattr(model, n) for n in PARAM_NAMES},
                  "memory": model.memory}
    checkpoint.update(progress)
    write_atomically(path, json.dumps(checkpoint, ensure_ascii=False))


def load_model(path):
    """Read and check a model file: (model, vocab, checkpoint dict).

    Only JSON is parsed, so nothing in the file can ever run. Any problem
    is a UserError that names the file.
    """
    if os.path.isdir(path):
        raise UserError(f"model file {path} is a folder; pass --model FILE")
    if not os.path.isfile(path) and os.path.isfile(old_model_path(path)):
        raise UserError(f"model file {path} was not found, but "
                        f"{old_model_path(path)} holds the model an earlier "
                        f"run put aside: pass --model "
                        f"{old_model_path(path)}, or rename it to {path}")
    if not os.path.isfile(path):
        raise UserError(f"model file {path} was not found; train one first "
                        f"with: {command_for(['--model', path])}")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise UserError(f"cannot read model file {path}: {e.strerror}")
    if raw[:1] == b"\x80":
        raise UserError(f"{path} is a pickle file; this script never loads "
                        f"pickles (loading one can run any code): retrain "
                        f"to get a JSON model")

    def refuse(name):
        raise ValueError(f"it holds {name}")

    try:
        checkpoint = json.loads(raw.decode("utf-8"), parse_constant=refuse)
    except UnicodeDecodeError:
        raise UserError(f"{path} is not a model file: it is not text")
    except json.JSONDecodeError as e:
        raise UserError(f"{path} is not valid JSON ({e.msg} at line "
                        f"{e.lineno} column {e.colno}); it may be truncated: "
                        f"retrain or restore a copy")
    except (ValueError, RecursionError) as e:
        raise UserError(f"{path} is not a usable model file: {e}")

    def bad(why):
        return UserError(f"{path} is not a usable model file: {why}")

    if not isinstance(checkpoint, dict):
        raise bad("it holds no JSON object")
    vocab, params = checkpoint.get("vocab"), checkpoint.get("params")
    if (not isinstance(vocab, list) or not vocab
            or not all(isinstance(ch, str) and len(ch) == 1 for ch in vocab)
            or len(set(vocab)) != len(vocab)):
        raise bad("'vocab' must be a list of distinct single characters")
    if not isinstance(params, dict) or set(PARAM_NAMES) - set(params):
        raise bad("'params' must hold U, W, V, b and c")
    cell = checkpoint.setdefault("cell", "rnn")      # files from before GRU
    if not isinstance(cell, str) or cell not in CELLS:
        raise bad(f"'cell' must be one of {', '.join(CELLS)}, got {cell!r}")
    V = params["V"]                                  # vocab×hidden
    hidden = len(V[0]) if isinstance(V, list) and V and isinstance(
        V[0], list) else 0
    if hidden < 1:
        raise bad("'V' must be a list of non-empty rows")
    size = len(params["c"]) if isinstance(params["c"], list) else 0
    if size != len(vocab):
        raise bad(f"the vocab has {len(vocab)} characters but the weights "
                  f"(c) are for {size}")
    blocks = getattr(CELLS[cell], "GATES", 1)        # the vanilla RNN has 1
    rows = blocks * hidden
    shapes = {"U": (rows, size), "W": (rows, hidden),
              "V": (size, hidden), "b": (rows,), "c": (size,)}
    named = {name: name for name in PARAM_NAMES}
    if blocks > 1:                                  # name the block count
        named.update({name: f"{name} ({blocks} {cell} blocks of {hidden})"
                      for name in "UWb"})
    memories = checkpoint.get("memory", {})
    if not isinstance(memories, dict):
        raise bad("'memory' must be an object")
    weights = {name: checked_numbers(params[name], shapes[name], named[name],
                                     bad) for name in PARAM_NAMES}
    model = CELLS[cell](size, hidden)                 # sizes now known sane
    for name in PARAM_NAMES:
        setattr(model, name, weights[name])
        if memories.get(name) is not None:
            model.memory[name] = checked_numbers(memories[name], shapes[name],
                                                 "memory " + named[name], bad)
    state = model.zero_state()
    if isinstance(state, tuple):                     # an LSTM's (h, s)
        h, s = checked_numbers(checkpoint.get("h", list(state)),
                               (2, hidden), "h", bad)
        checkpoint["h"] = (h, s)
    else:
        checkpoint["h"] = checked_numbers(checkpoint.get("h", state),
                                          (hidden,), "h", bad)
    for key in ("iteration", "position"):
        value = checkpoint.setdefault(key, 0)
        if type(value) is not int or value < 0:
            raise bad(f"'{key}' must be a whole number >= 0")
    if not isinstance(checkpoint.get("config", {}), dict):
        raise bad("'config' must be an object")
    history = checkpoint.setdefault("history", {"train": [], "val": []})
    if not isinstance(history, dict):
        raise bad("'history' must be an object")
    for key in ("train", "val"):
        series = history.get(key, [])
        if not isinstance(series, list):
            raise bad(f"history {key} must be a list")
        points = checked_numbers(series, (len(series), 2),
                                 "history " + key, bad)
        history[key] = [[int(x), y] for x, y in points]
    smooth = checkpoint.setdefault("smooth_loss", math.log2(size))
    if type(smooth) not in (int, float) or not math.isfinite(smooth):
        raise bad("'smooth_loss' must be a finite number")
    return model, vocab, checkpoint


def checked_numbers(value, shape, name, bad):
    """value as floats if it is a list (of lists) of finite numbers of this
    shape, (n,) or (rows, cols); else raise bad(...)."""
    rows = [value] if len(shape) == 1 else value
    want = "×".join(str(n) for n in shape)
    if not isinstance(rows, list) or len(rows) != (1 if len(shape) == 1
                                                   else shape[0]):
        raise bad(f"{name} should be {want}")
    for row in rows:
        if not isinstance(row, list) or len(row) != shape[-1]:
            raise bad(f"{name} should be {want}")
        for v in row:
            if type(v) not in (int, float) or not math.isfinite(v):
                raise bad(f"{name} holds {v!r}, not a finite number")
    floats = [[float(v) for v in row] for row in rows]
    return floats[0] if len(shape) == 1 else floats


def old_model_path(path):
    """NAME.old.EXT: where a new run keeps the model file it replaces."""
    root, ext = os.path.splitext(path)
    return root + ".old" + ext


def plan_to_keep(path):
    """Before a new run: if path holds a file, print a notice of what it
    holds and that the run's first save moves it to NAME.old.EXT (one
    generation deep; an unreadable file too), and return that name; None
    if there is no file. Until that save path is untouched, so a run that
    fails before it costs nothing."""
    if not os.path.exists(path):
        return None
    old = old_model_path(path)
    if os.path.isdir(old):
        raise UserError(f"cannot keep the old {path} as {old}: {old} is a "
                        f"folder; move it yourself, or use --model NEW.json")
    try:
        model, _, checkpoint = load_model(path)
        val = checkpoint["history"]["val"]
        held = (f"{checkpoint['cell']}, hidden {len(model.V[0])}, "
                f"{checkpoint['iteration']:,} iteration"
                f"{'' if checkpoint['iteration'] == 1 else 's'}, val "
                f"{f'{val[-1][1]:.2f}' if val else '-'} bits/char")
    except UserError:
        held = "not a model this script can read"
    print(f"notice: {path} holds an earlier model ({held}); this run's "
          f"first save keeps it as {old}")
    return old


def keep_old_model(path, old):
    """At a new run's first save: move the earlier file at path to old."""
    try:
        os.replace(path, old)
    except OSError as e:
        raise UserError(f"cannot keep the old {path} as {old}: {e.strerror}; "
                        f"move it yourself, or use --model NEW.json")


# --- training ----------------------------------------------------------------

def split_data(text, fraction):
    """(training text, validation text): the last `fraction` is held out.
    The validation text is "" when it would be too short to score."""
    n_val = int(len(text) * fraction)
    if n_val < 2 or len(text) - n_val < 2:
        return text, ""
    return text[:-n_val], text[-n_val:]


def log_probs(model, ids):
    """ln p(ids[t] | ids[:t]) for t = 1..len(ids)-1, h starting at zero."""
    h, logs = model.zero_state(), []
    for x, y in zip(ids, ids[1:]):
        h = model.step(x, h)
        o = model.scores(h)
        _, lse = softmax(o)
        logs.append(o[y] - lse)                          # ln p[y]
    return logs


def evaluate(model, ids):
    """Average loss in bits per character of predicting ids[1:] from ids
    (forward only, h starts at zero)."""
    return -sum(log_probs(model, ids)) / (len(ids) - 1) / math.log(2)


def clock(seconds):
    """Seconds as h:mm:ss or m:ss."""
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{seconds:02d}"
    return f"{minutes}:{seconds:02d}"


def print_sample(title, text):
    """Print text framed by rules of dashes."""
    print(f"--- {title} ".ljust(79, "-"))
    print(text)
    print("-" * 79, flush=True)


def all_finite(model):
    """True if every row of weights sums to a finite number: a NaN or
    infinite weight anywhere makes its row's sum NaN or infinite."""
    rows = model.U + model.W + model.V + [model.b, model.c]
    return all(math.isfinite(sum(row)) for row in rows)


def diverged(iteration, why, args):
    """The error for a run whose loss or weights blew up. It says what is
    on disk: the last good checkpoint, or none and the kept old model."""
    if args.resume or args.saved:
        kept = f"the last good checkpoint in {args.model} is kept"
    else:
        kept = f"no checkpoint was written to {args.model}"
        if args.old_model:
            kept += f", which still holds the earlier model"
    return UserError(f"training diverged at iteration {iteration} ({why}): "
                     f"--learning-rate {args.learning_rate:g} is too high; "
                     f"try {args.learning_rate / 10:g} or less (0.01-0.2 "
                     f"usually works); {kept}")


def train(model, vocab, train_ids, val_ids, progress, args, save, sample):
    """Update the model until progress["iteration"] = args.max_iterations.

    progress holds iteration, position, h, smooth_loss and history, and is
    updated in place; save() writes a checkpoint; sample() returns text.
    Ctrl-C saves a checkpoint, then raises KeyboardInterrupt with the
    message that says how to continue.
    """
    start_bits = math.log2(len(vocab))              # loss of a uniform guess
    start_time, start_iteration = time.monotonic(), progress["iteration"]
    chars, val_bits, stop = 0, None, []
    try:                                            # Ctrl-C sets stop
        old = signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    except (AttributeError, OSError, ValueError):   # no signals here: a
        old = False                                 # browser, a thread
    try:
        while progress["iteration"] < args.max_iterations:
            if stop:                                # Ctrl-C was pressed
                save()
                raise KeyboardInterrupt(
                    f"\ninterrupted at iteration {progress['iteration']}; "
                    f"saved {args.model}. Continue with:\n  "
                    f"{resume_command(args.argv)}")

            # the next chunk; at the end of the text, wrap and reset h
            position, h = progress["position"], progress["h"]
            if position + 1 >= len(train_ids):
                position, h = 0, model.zero_state()
            end = min(position + args.sequence_length, len(train_ids) - 1)
            inputs = train_ids[position:end]
            targets = train_ids[position + 1:end + 1]

            loss, grads, h = model.loss_and_gradients(inputs, targets, h)
            bits = loss / len(inputs) / math.log(2)
            iteration = progress["iteration"] + 1
            if not math.isfinite(bits) or bits > 3 * start_bits:
                raise diverged(iteration, f"loss {bits:.3g} bits/char", args)
            model.update(grads, args.learning_rate)
            chars += len(inputs)
            smooth = 0.99 * progress["smooth_loss"] + 0.01 * bits
            progress.update(iteration=iteration, position=end, h=h,
                            smooth_loss=smooth)

            checkpoint = (iteration % args.sample_every == 0
                          or iteration == args.max_iterations)
            if checkpoint and val_ids:
                val_bits = evaluate(model, val_ids)
                progress["history"]["val"].append([iteration, val_bits])
            if checkpoint or iteration % args.log_every == 0:
                progress["history"]["train"].append([iteration, smooth])
                elapsed = time.monotonic() - start_time
                left = (elapsed / (iteration - start_iteration)
                        * (args.max_iterations - iteration))
                val = "-" if val_bits is None else f"{val_bits:.2f}"
                print(f"iter {iteration}/{args.max_iterations} | train "
                      f"{smooth:.2f} bits/char | val {val} | "
                      f"{chars / elapsed:,.0f} chars/s | {clock(elapsed)} "
                      f"elapsed, {clock(left)} left", flush=True)
            if checkpoint:
                if not all_finite(model):
                    raise diverged(iteration, "a weight is NaN or infinite",
                                   args)
                if args.sample_length:
                    print_sample(f"sample at iteration {iteration}", sample())
                save()
    finally:
        if old is not False:           # None: a handler not set by Python
            signal.signal(signal.SIGINT, old or signal.SIG_DFL)


# --- sampling and inference --------------------------------------------------

def generate(model, vocab, prime_ids, length, temperature, rng, top_k=0):
    """The prime's text followed by `length` sampled characters. The prime
    (indices) is fed through the network one character at a time to set
    the hidden state."""
    h = model.zero_state()
    for x in prime_ids[:-1]:
        h = model.step(x, h)
    drawn = model.sample(h, prime_ids[-1], length, temperature, rng, top_k)
    return "".join(vocab[i] for i in prime_ids + drawn)


def predict(model, vocab, text, source="the vocabulary"):
    """Feed text one character at a time; print the top 3 guesses for each
    next character, then the average bits per character on text."""
    ids = encode(text, vocab, "--predict text", source)
    h, total = model.zero_state(), 0.0
    print("pos  char | top 3 next characters (probability)  | actual next")
    for t, x in enumerate(ids):
        h = model.step(x, h)
        o = model.scores(h)
        probs, lse = softmax(o)
        top = sorted(range(len(probs)), key=lambda i: -probs[i])[:3]
        guesses = "  ".join(f"{vocab[i]!r:>5} {probs[i]:.3f}" for i in top)
        actual = ""
        if t + 1 < len(ids):
            y = ids[t + 1]
            total += (lse - o[y]) / math.log(2)              # -log2 p[y]
            actual = f"{vocab[y]!r} {'in top 3' if y in top else 'missed'}"
        print(f"{t:>3} {vocab[x]!r:>5} | {guesses} | {actual}")
    if len(ids) > 1:
        print(f"average: {total / (len(ids) - 1):.2f} bits/char over "
              f"{len(ids) - 1} predictions")


# --- checking the backward pass: --check -------------------------------------
# A self-test that needs no data file and no tests folder, for a student who
# edits a cell. Each cell gets a small fixed problem: vocab 5, hidden 4, a
# 6-character chunk, every weight and bias drawn at a fixed seed, and a
# non-zero starting state. Every entry of every gradient that
# loss_and_gradients returns is compared with a central difference of its
# loss, and the loss itself with the value recorded below, which catches a
# forward and a backward pass changed the same wrong way.

CHECK_SIZES = {"vocab": 5, "hidden": 4, "length": 6, "seed": 1}
# The loss, in nats, of each cell's fixed problem as this file computes it.
# If you change a cell on purpose and its gradients pass, put here the new
# value that --check prints.
CHECK_LOSS = {"rnn": 12.654012708542197, "gru": 11.39866122936499,
              "lstm": 11.068557403186714}
# A gradient entry passes when |backprop - numeric| / max(|backprop|,
# |numeric|, 1e-4) <= 1e-6. Here the 4th-order central difference errs by
# 4e-12 at most, so a right entry passes by far; a wrong line is off by a
# percent or more. An entry tinier than 1e-4 is measured against 1e-4, not
# its own size (an absolute error of 1e-10): the relative error of a number
# near zero is round-off, not a bug. The loss must match to 1e-12.
CHECK_TOLERANCE, CHECK_FLOOR = 1e-6, 1e-4


def rows_of(param):
    """A matrix's rows, or a vector as one row."""
    return param if isinstance(param[0], list) else [param]


def check_problem(name):
    """(model, inputs, targets, state): the fixed problem for one cell."""
    rng = random.Random(CHECK_SIZES["seed"])
    vocab, hidden = CHECK_SIZES["vocab"], CHECK_SIZES["hidden"]
    model = CELLS[name](vocab, hidden, seed=0)
    for p in PARAM_NAMES:                            # every weight and bias
        for row in rows_of(getattr(model, p)):
            row[:] = [rng.uniform(-1.0, 1.0) for _ in row]
    ids = [rng.randrange(vocab) for _ in range(CHECK_SIZES["length"] + 1)]
    h = [rng.uniform(-0.9, 0.9) for _ in range(hidden)]
    if isinstance(model.zero_state(), tuple):        # the LSTM's (h, s)
        return model, ids[:-1], ids[1:], (h, [rng.uniform(-1.5, 1.5)
                                              for _ in range(hidden)])
    return model, ids[:-1], ids[1:], h


def central_difference(loss, row, j, step=1e-3):
    """dL/d row[j], 4th order: (8(L(+s) - L(-s)) - (L(+2s) - L(-2s))) / 12s.
    loss() recomputes L with row[j] as it is at the time."""
    saved, f = row[j], {}
    for k in (-2, -1, 1, 2):
        row[j] = saved + k * step
        f[k] = loss()
    row[j] = saved
    return (8 * (f[1] - f[-1]) - (f[2] - f[-2])) / (12 * step)


class BadShape(Exception):
    """A gradient of the wrong shape: --check reports it on one line."""


def gradient_errors(model, inputs, targets, state):
    """{parameter name: (worst relative error, (row, column) or (entry,),
    backprop's value, the central difference there)} for one chunk."""
    _, grads, _ = model.loss_and_gradients(inputs, targets, state)

    def loss():
        return model.loss_and_gradients(inputs, targets, state)[0]

    errors = {}
    for p in PARAM_NAMES:
        param, grad = getattr(model, p), grads[p]
        if ([len(row) for row in rows_of(grad)] != [len(row) for row in
                                                     rows_of(param)]
                or len(grad) != len(param)):
            raise BadShape(f"d{p} should have the shape of {p}")
        worst = (0.0, None, 0.0, 0.0)
        for r, (row, grad_row) in enumerate(zip(rows_of(param),
                                                rows_of(grad))):
            for j, backprop in enumerate(grad_row):
                numeric = central_difference(loss, row, j)
                error = abs(backprop - numeric) / max(
                    abs(backprop), abs(numeric), CHECK_FLOOR)
                if error > worst[0]:
                    at = (r, j) if p in ("U", "W", "V") else (j,)
                    worst = (error, at, backprop, numeric)
        errors[p] = worst
    return errors


BLOCKS = {"rnn": "", "gru": "rzn", "lstm": "ifgo"}   # PyTorch's block order


def entry_name(name, p, at, hidden):
    """"U[5][0] (z block, unit 1)": an entry, and for U, W and b of a gated
    cell, the gate block and the unit it belongs to."""
    label = p + "".join(f"[{i}]" for i in at)
    if BLOCKS[name] and p in ("U", "W", "b"):
        block, unit = divmod(at[0], hidden)
        label += f" ({BLOCKS[name][block]} block, unit {unit})"
    return label


def check_cell(name):
    """Print one cell's rows: each parameter's worst relative error, then
    the loss against CHECK_LOSS. Returns the failures, as lines."""
    model, inputs, targets, state = check_problem(name)
    hidden, failures = CHECK_SIZES["hidden"], []
    errors = gradient_errors(model, inputs, targets, state)
    for p, (worst, at, backprop, numeric) in errors.items():
        rows = rows_of(getattr(model, p))
        shape = (f"{len(rows)}×{len(rows[0])}" if p in ("U", "W", "V")
                 else str(len(rows[0])))
        verdict = "ok" if worst <= CHECK_TOLERANCE else "FAIL"
        cell = name if p == PARAM_NAMES[0] else ""
        print(f"{cell:<5} {p:<9} {shape:<7} {worst:.1e}  {verdict}")
        if verdict == "FAIL":
            failures.append(f"FAIL {name} {p}: relative error {worst:.1e} "
                            f"at {entry_name(name, p, at, hidden)}: "
                            f"backprop {backprop:.6g}, central difference "
                            f"{numeric:.6g}")
    if failures:                             # where: one step, or between?
        one = gradient_errors(model, inputs[:1], targets[:1], state)
        if all(e[0] <= CHECK_TOLERANCE for e in one.values()):
            failures.append(f"hint: on a 1-character chunk every {name} "
                            f"gradient passes, so the error is in what "
                            f"goes back to the previous step (dh_next, "
                            f"dh_prev{', ds_prev' if name == 'lstm' else ''})")
        else:
            failures.append(f"hint: the {name} fails on a 1-character chunk "
                            f"too, so the error is within one step")

    recorded = CHECK_LOSS[name]
    loss = model.loss_and_gradients(inputs, targets, state)[0]
    verdict = ("ok" if abs(loss - recorded) <= 1e-12 * max(1.0, abs(recorded))
               else "FAIL")
    print(f"{'':<5} {'forward':<9} loss {loss!r}, recorded {recorded!r}  "
          f"{verdict}")
    if verdict == "FAIL":
        failures.append(f"FAIL {name} forward: the loss is {loss!r} nats, "
                        f"not the recorded {recorded!r}; if you changed the "
                        f"{name} cell on purpose and its gradients pass, set "
                        f"CHECK_LOSS[{name!r}] = {loss!r} in the file")
    return failures


def run_check(names, ignored=()):
    """--check: check each named cell; returns 0 if all pass, else 1.
    ignored: flags given that --check does not use, to say so."""
    start = time.monotonic()
    if ignored:
        print(f"notice: --check uses its own fixed problem and ignores "
              f"{', '.join(ignored)}")
    print(f"--check: each cell on a fixed problem (vocab "
          f"{CHECK_SIZES['vocab']}, hidden {CHECK_SIZES['hidden']}, "
          f"{CHECK_SIZES['length']} characters,\na non-zero start state). "
          f"Every gradient entry from backprop against a central\n"
          f"difference: the worst relative error, which passes at <= "
          f"{CHECK_TOLERANCE:g} (2 means\nopposite signs); then the loss "
          f"against the value recorded in CHECK_LOSS.\n")
    print("cell  parameter shape   worst relative error")
    failures, failed = [], []
    for name in names:
        try:
            lines = check_cell(name)
        except BadShape as e:
            lines = [f"FAIL {name}: {e}"]
        except Exception as e:                       # a half-written cell
            where = traceback.extract_tb(e.__traceback__)[-1]
            lines = [f"FAIL {name}: {type(e).__name__}: {e} (line "
                     f"{where.lineno}, in {where.name})"]
        if lines and not lines[0].startswith(f"FAIL {name} "):
            print(f"{name:<5} stopped: see below")   # raised before a row
        failures += lines
        failed += [name] if lines else []
    for line in failures:
        print(line)
    took = f"{time.monotonic() - start:.1f} s"
    if failed:
        print(f"check failed: {', '.join(failed)} ({took})")
        return 1
    print(f"all passed: {', '.join(names)} ({took})")
    return 0


# --- looking inside: how far back the gradient reaches -----------------------

def step_back(model, d_state, cache, WT):
    """dL/d(state_{j-1}) from dL/d(state_j), through cell step j alone.
    cache: what step_forward kept (the vanilla RNN: h_j itself)."""
    if isinstance(model, GatedRNN):
        zero = [0.0] * len(WT)                       # no output at step j
        return model.step_backward(zero, d_state, cache, WT)[2]
    dh_raw = [(1.0 - h * h) * g for h, g in zip(cache, d_state)]  # tanh
    return matvec(WT, dh_raw)                        # Wᵀ·dh_raw


def flow_norms(model, ids, steps):
    """For every position t with `steps` states of history and a next
    character: [‖∂ℓ_t/∂h_{t-k}‖ for k = 0..steps-1], where
    ℓ_t = -log p(ids[t+1] | ids[:t+1]) is backpropagated alone. An LSTM's
    cell state s is a separate variable: only h's gradient is measured."""
    states, caches, state = [], [], model.zero_state()
    for x in ids[:-1]:                               # forward, from zeros
        if isinstance(model, GatedRNN):
            state, cache = model.step_forward(x, state)
        else:
            state = cache = model.step(x, state)
        states.append(state)
        caches.append(cache)
    VT, WT = transpose(model.V), transpose(model.W)
    norms = []
    for t in range(steps - 1, len(ids) - 1):
        dy, _ = softmax(model.scores(states[t]))
        dy[ids[t + 1]] -= 1.0                        # dℓ_t/do_t = p - onehot
        dh = [dot(V_col, dy) for V_col in VT]        # dℓ_t/dh_t
        d_state = dh
        if isinstance(states[t], tuple):             # an LSTM's (dh, ds)
            d_state = (dh, [0.0] * len(dh))
        row = []
        for k in range(steps):
            dh = hidden_of(d_state)
            row.append(math.sqrt(dot(dh, dh)))
            if k + 1 < steps:                        # to h_{t-k-1}
                d_state = step_back(model, d_state, caches[t - k], WT)
        norms.append(row)
    return norms


def gradient_flow(model, vocab, text, steps, trained_steps, svg_path, title,
                  source="the model"):
    """--gradient-flow: print the mean norm for each k, its ratio to k = 0
    and a log-scale chart; write the same chart as svg_path."""
    ids = encode(text, vocab, "--gradient-flow text", source)
    if len(ids) < steps + 2:
        raise UserError(f"--gradient-flow text has {len(ids)} characters; "
                        f"with --flow-steps {steps} it needs at least "
                        f"{steps + 2}")
    norms = flow_norms(model, ids, steps)
    means = [sum(col) / len(norms) for col in zip(*norms)]
    print(f"mean |d loss_t / d h_(t-k)| over {len(norms)} positions of "
          f"the text")
    if steps > trained_steps:           # the table goes past what training saw
        print(f"note: training cut the gradient after {trained_steps} steps "
              f"(--sequence-length): past k = {trained_steps - 1} the model "
              f"was never trained to use it")
    else:
        print(f"note: training cut the gradient after {trained_steps} steps "
              f"(--sequence-length); this table stops at k = {steps - 1}, "
              f"within that reach")
    print("   k   mean norm   ratio to k=0")
    for k, mean in enumerate(means):
        print(f"{k:>4}  {mean:>10.4g}  {mean / means[0]:>13.4g}")
    points = [(k, math.log10(mean)) for k, mean in enumerate(means) if mean]
    series = [("flow", "mean norm", "*", "#1f77b4", points)]
    print(text_chart(series, "norm (log)", "k, steps back",
                     lambda y: f"{10 ** y:.0e}", log=True))
    write_atomically(svg_path, svg_chart(
        series, title, "k: steps back from the predicted character",
        "gradient norm (log scale)", lambda y: f"{10 ** y:.0e}", log=True))
    print(f"chart: {svg_path}")


# --- looking inside: what single hidden units track --------------------------

def unit_color(value):
    """-1 blue ... 0 white ... +1 red, as a CSS color."""
    v = max(-1.0, min(1.0, value))
    fade = round(255 * (1 - abs(v)))
    return f"rgb(255,{fade},{fade})" if v > 0 else f"rgb({fade},{fade},255)"


def unit_style(value):
    """CSS for a character of value: unit_color behind, and black or white
    text, whichever contrasts more with it (WCAG relative luminance), so
    the text stays readable on the dark blues."""
    v = max(-1.0, min(1.0, value))
    fade = round(255 * (1 - abs(v))) / 255           # the two faded channels
    linear = (fade / 12.92 if fade <= 0.04045
              else ((fade + 0.055) / 1.055) ** 2.4)
    full = 0.2126 if v > 0 else 0.0722               # red or blue at 255
    luminance = full + (1.0 - full) * linear
    on_black = (luminance + 0.05) / 0.05             # contrast ratios
    on_white = 1.05 / (luminance + 0.05)
    ink = "black" if on_black >= on_white else "white"
    return f"background:{unit_color(v)};color:{ink}"


def hidden_trace(model, ids):
    """Run ids from the zero state: h after each character, and the
    probabilities of the next character there."""
    state, hs, probs = model.zero_state(), [], []
    for x in ids:
        state = model.step(x, state)
        hs.append(hidden_of(state))
        probs.append(softmax(model.scores(state))[0])
    return hs, probs


def units_to_show(traces, given, count=8):
    """[(trace, unit)]: the units of --units, checked ("3,17", or "s51"
    for an LSTM's cell state), else the `count` units of h that change
    most slowly over the text (see slowness, below). traces: {"h": hs}
    and, for an LSTM, "s"."""
    hidden = len(traces["h"][0])
    if given is None:
        hs = traces["h"]
        return [("h", u) for u in sorted(
            range(hidden), key=lambda u: slowness([h[u] for h in hs]),
            reverse=True)[:count]]
    units = []
    for part in given.split(","):
        part = part.strip()
        trace = part[0] if part[:1] in ("h", "s") else "h"
        number = part[1:].strip() if part[:1] in ("h", "s") else part
        if not number.isdigit() or int(number) >= hidden or (
                trace not in traces):
            units = []
            break
        units.append((trace, int(number)))
    if not units or len(set(units)) != len(units):
        cell_state = ", s0 to s" + str(hidden - 1) if "s" in traces else ""
        raise UserError(f"--units must be distinct units, 0 to {hidden - 1} "
                        f"(or h0 to h{hidden - 1}{cell_state}), "
                        f"comma-separated, got {given!r}")
    return units


def activations_page(vocab, text, probs, sections, title):
    """A self-contained HTML page of sections (heading, introduction,
    rows), each row (heading, values, scale, name, attribute): the text
    coloured character by character by the row's value after reading it,
    divided by scale; hovering shows the value and the model's top 3
    guesses for the next character. attribute goes into the row's div."""
    tips = []
    for p in probs:
        top = sorted(range(len(p)), key=lambda i: -p[i])[:3]
        tips.append("  ".join(f"{vocab[i]!r} {p[i]:.2f}" for i in top))
    parts = ["<!DOCTYPE html>", '<html><head><meta charset="utf-8">',
             f"<title>{html.escape(title)}</title>",
             "<style>body{font-family:sans-serif;margin:2em}"
             ".row{font-family:monospace;white-space:pre-wrap;"
             "line-height:1.7;border:1px solid #ccc;padding:.5em}"
             ".row span:hover{outline:2px solid #fb0}"
             '.nl::before{content:"\\21B5";opacity:.6}</style>',
             f"</head><body><h1>{html.escape(title)}</h1>",
             "<p>Each row is the text, every character's background the "
             "value, after reading it, of a property of the text or of one "
             "hidden unit: "
             f'<span style="{unit_style(-1)}">-1</span> ... '
             f'<span style="{unit_style(0)}">0</span> ... '
             f'<span style="{unit_style(1)}">+1</span> '
             "(a property, or a cell state s beyond ±1, divided by its "
             "largest size in the text). "
             "Hover a character for the value and the model's top 3 guesses "
             "for the next character.</p>"]
    for section, introduction, rows in sections:
        parts.append(f"<h2>{html.escape(section)}</h2>")
        parts.append(f"<p>{html.escape(introduction)}</p>")
        for heading, values, scale, name, attribute in rows:
            parts.append(f"<h3>{html.escape(heading)}</h3>")
            spans = []
            for ch, v, tip in zip(text, values, tips):
                kind = ' class="nl"' if ch == "\n" else ""
                shown = f"{v:+.3f}" if isinstance(v, float) else v
                hover = html.escape(f"{name}: {shown}\nnext: {tip}")
                spans.append(f'<span{kind} data-v="{v!r}" title="{hover}" '
                             f'style="{unit_style(v / scale)}">'
                             f"{html.escape(ch)}</span>")
            parts.append(f'<div class="row" {attribute}>'
                         f'{"".join(spans)}</div>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


# --- looking inside: units that mean something -------------------------------
# Most units mean nothing a person can name. To find the few that do,
# --activations computes properties of TEXT, each a number at every
# position t that describes TEXT up to and including character t, and
# for each finds the unit that follows it best: the largest |Pearson r|
# between the property and the unit's value after reading character t.
# The start of TEXT counts as a newline, a space and a sentence's end.

PROPERTIES = [
    ("quote", '1 after an odd number of " (inside a "string"), else 0'),
    ("squote", "1 after an odd number of ' (apostrophes count too)"),
    ("bracket", "1 after more of ([{ than of )]}, else 0"),
    ("depth", "how many more of ([{ than of )]} have been read"),
    ("column", "characters since the last newline; 0 on it"),
    ("indent", "spaces that begin the current line; 0 on a newline"),
    ("word", "characters since the last space or newline; 0 on it"),
    ("sentence", "characters since the last . ! or ?; 0 on it"),
]
SLOW_RANGE = 0.5     # a slow unit ranges over at least this much of [-1, 1]
SHORT_TEXT = 1000    # below this many characters, warn that r can be chance
SATURATED = 0.1      # a gate below 0.1 or above 0.9 is saturated (as in
                     # Karpathy, Johnson & Fei-Fei 2015, figure 4)
GATES_IN_CACHE = {   # (gate, its place in step_forward's cache, its name)
    "gru": [("r", 1, "reset"), ("z", 2, "update")],  # (h, r, z, n, Wh_n)
    "lstm": [("i", 1, "input"), ("f", 2, "forget"),  # (s, i, f, g, o,
             ("o", 4, "output")],                    #  tanh_s)
}


def text_properties(text):
    """{name: [its value at t for t = 0..len(text)-1]} for PROPERTIES."""
    values = {name: [] for name, _ in PROPERTIES}
    quotes = squotes = depth = column = indent = word = sentence = 0
    for ch in text:
        quotes += ch == '"'
        squotes += ch == "'"
        depth += (ch in "([{") - (ch in ")]}")
        if ch == "\n":
            indent = 0
        elif ch == " " and column == indent:     # only spaces so far
            indent += 1
        column = 0 if ch == "\n" else column + 1
        word = 0 if ch in " \n" else word + 1
        sentence = 0 if ch in ".!?" else sentence + 1
        for name, value in [("quote", quotes % 2), ("squote", squotes % 2),
                            ("bracket", int(depth > 0)), ("depth", depth),
                            ("column", column), ("indent", indent),
                            ("word", word), ("sentence", sentence)]:
            values[name].append(value)
    return values


def centered(values):
    """(values minus their mean, the length of that), or None when every
    value is the same."""
    if max(values) == min(values):
        return None
    mean = sum(values) / len(values)
    d = [v - mean for v in values]
    return d, math.sqrt(dot(d, d))


def pearson(xs, ys):
    """Pearson's r = Σ dx·dy / (‖dx‖·‖dy‖), d the deviations from the mean,
    of two lists of the same length; None if either is constant."""
    cx, cy = centered(xs), centered(ys)
    if cx is None or cy is None:
        return None
    return dot(cx[0], cy[0]) / (cx[1] * cy[1])


def gate_trace(model, ids):
    """Run ids from the zero state through a gated cell and read the gates
    off step_forward's caches: (cell states s after each character, or
    None but for the LSTM; {gate: [values (hidden) after each char]}).
    The vanilla RNN has no gates: (None, {})."""
    if not isinstance(model, GatedRNN):
        return None, {}
    slots = GATES_IN_CACHE[cell_name(model)]
    state, ss, gates = model.zero_state(), [], {g: [] for g, _, _ in slots}
    for x in ids:
        state, cache = model.step_forward(x, state)
        for gate, slot, _ in slots:
            gates[gate].append(cache[slot])
        if isinstance(state, tuple):                 # the LSTM's (h, s)
            ss.append(state[1])
    return (ss or None), gates


def best_units(properties, traces):
    """{property: (trace, unit, r)}: of all units of every trace ("h": hs,
    and for an LSTM "s": its cell states), the one whose value has the
    largest |r| with the property; None for a property constant over
    the text."""
    columns = [(name, u, centered([v[u] for v in trace]))
               for name, trace in traces.items()
               for u in range(len(trace[0]))]
    found = {}
    for prop, values in properties.items():
        p = centered(values)
        rs = [(name, u, dot(p[0], c[0]) / (p[1] * c[1]))
              for name, u, c in columns if p and c]
        found[prop] = max(rs, key=lambda f: abs(f[2])) if rs else None
    return found


def print_found(found, length):
    """One row per property: its name, the best unit and r, or "-"; a
    notice when the text (length characters) is too short to trust r."""
    print("r: the Pearson correlation, over the text, of the property with "
          "the unit's value\n(-1 to +1; near ±1, the unit follows it)")
    print("property   unit      r   what the property is")
    for name, what in PROPERTIES:
        if found[name] is None:
            print(f"{name:<9}     -      -   {what} (constant here)")
        else:
            trace, u, r = found[name]
            print(f"{name:<9} {trace} {u:<3} {r:+.2f}   {what}")
    best = {}                           # unit -> the properties it wins
    for name, _ in PROPERTIES:
        if found[name] is not None:
            trace, u, _ = found[name]
            best.setdefault(f"{trace} {u}", []).append(name)
    for unit, names in best.items():
        if len(names) > 1:
            print(f"note: {unit} is the best unit for {' and '.join(names)}:"
                  f" it may follow what they share, not each of them")
    if length < SHORT_TEXT:
        print(f"notice: the text has only {length} characters; the best of "
              f"many units can reach a high r by chance on so few; give a "
              f"few thousand")


def slowness(values):
    """(ranges over SLOW_RANGE or more, r between consecutive values): a
    sort key, larger for a unit whose value changes slowly."""
    step_r = pearson(values[:-1], values[1:]) if len(values) > 2 else None
    return (max(values) - min(values) >= SLOW_RANGE,
            -1.0 if step_r is None else step_r)


# --- looking inside: how the gates saturate ----------------------------------
# A gate near 0 or 1 is saturated: a forget gate near 1 keeps its cell
# state, an update gate near 0 replaces h. For each gate and unit, the
# fraction of TEXT's positions below SATURATED and above 1 - SATURATED,
# printed per gate and drawn as gates.svg; for the rnn, how often |h| is
# near 1 instead.

def saturation(trace, low, high):
    """[(fraction of positions below low, fraction above high)] per unit
    of trace (a list of vectors, one per position)."""
    n = len(trace)
    return [(sum(v[u] < low for v in trace) / n,
             sum(v[u] > high for v in trace) / n)
            for u in range(len(trace[0]))]


def saturation_summary(fractions):
    """How many units are mostly (at over half the positions) right-
    saturated, left-saturated and in between, and how many are none."""
    right = sum(r > 0.5 for _, r in fractions)
    left = sum(lo > 0.5 for lo, _ in fractions)
    between = sum(1 - lo - r > 0.5 for lo, r in fractions)
    return (f"{right} mostly right-saturated, {left} mostly left-saturated, "
            f"{between} mostly in between, "
            f"{len(fractions) - right - left - between} none of these")


def gates_svg(panels, title):
    """A standalone SVG: one scatter per panel (name, x label, y label,
    fractions), each fraction pair a dot at (left, right) on axes from 0
    to 1, as in Karpathy, Johnson & Fei-Fei (2015), figure 4. No dot can
    lie above the dashed diagonal, where left + right = 1."""
    size, left, gap, top = 220, 70, 80, 95
    width = max(left + len(panels) * (size + gap), 40 + 8 * len(title),
                540)                                  # the caption's width
    height = top + size + 95                          # two caption lines
    colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" '
             f'font-family="sans-serif" font-size="13">',
             f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<text x="{width / 2}" y="26" text-anchor="middle" '
             f'font-size="15">{html.escape(title)}</text>']
    for k, (name, x_name, y_name, fractions) in enumerate(panels):
        x0, y1 = left + k * (size + gap), top + size     # bottom-left corner
        parts.append(f'<g class="gate" data-gate="{html.escape(name)}">')
        parts.append(f'<text x="{x0 + size / 2}" y="{top - 36}" '
                     f'text-anchor="middle" font-size="14">'
                     f'{html.escape(name)}, {len(fractions)} units</text>')
        mostly = saturation_summary(fractions).replace("-saturated", "")
        parts.append(f'<text x="{x0 + size / 2}" y="{top - 16}" '
                     f'text-anchor="middle" font-size="11">'
                     f'{html.escape(mostly.replace("mostly ", ""))}</text>')
        parts.append(f'<rect x="{x0}" y="{top}" width="{size}" '
                     f'height="{size}" fill="none" stroke="black"/>')
        parts.append(f'<line x1="{x0}" y1="{top}" x2="{x0 + size}" '
                     f'y2="{y1}" stroke="#bbb" stroke-dasharray="4 4"/>')
        for tick in (0, 0.5, 1):
            parts.append(f'<text x="{x0 + tick * size}" y="{y1 + 17}" '
                         f'text-anchor="middle">{tick:g}</text>')
            parts.append(f'<text x="{x0 - 6}" y="{y1 - tick * size + 4}" '
                         f'text-anchor="end">{tick:g}</text>')
        parts.append(f'<text x="{x0 + size / 2}" y="{y1 + 36}" '
                     f'text-anchor="middle">{html.escape(x_name)}</text>')
        parts.append(f'<text transform="translate({x0 - 32} {top + size / 2})'
                     f' rotate(-90)" text-anchor="middle">'
                     f'{html.escape(y_name)}</text>')
        for u, (lo, hi) in enumerate(fractions):
            parts.append(f'<circle cx="{x0 + lo * size:.1f}" '
                         f'cy="{y1 - hi * size:.1f}" r="4" '
                         f'fill="{colors[k % len(colors)]}" '
                         f'fill-opacity="0.6" data-left="{lo!r}" '
                         f'data-right="{hi!r}"><title>unit {u}: '
                         f'left {lo:.2f}, right {hi:.2f}</title></circle>')
        parts.append("</g>")
    for line, y in [("One dot per unit: the fraction of the text's positions "
                     "where its value is low (across) and high (up).",
                     height - 28),
                    ("Right, left: high or low at over half of them. No dot "
                     "can pass the dashed line, where the two add to 1.",
                     height - 12)]:
        parts.append(f'<text x="{left - 40}" y="{y}" font-size="11" '
                     f'fill="#555">{html.escape(line)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def page_sections(properties, found, traces, units, chosen):
    """The sections of activations.html: each property above its best
    unit, then the units (those of --units if chosen, else the slow ones)."""
    rows, constant = [], []
    for name, what in PROPERTIES:
        if found[name] is None:
            constant.append(name)
            continue
        trace, u, r = found[name]
        values = properties[name]
        rows.append((f"{name}: {what}", values, max(map(abs, values)), name,
                     f'data-property="{name}"'))
        unit = [v[u] for v in traces[trace]]
        rows.append((f"best unit: {trace} {u}, r = {r:+.2f}", unit,
                     max(1.0, max(map(abs, unit))),  # s can pass ±1
                     f"{trace} {u}", f'data-unit="{u}" data-trace="{trace}"'))
    intro = ("Each property of the text, then the unit whose value follows "
             "it best (largest |Pearson r| over this text; a negative r "
             "means the unit goes down as the property goes up).")
    if constant:
        intro += f" Constant over this text: {', '.join(constant)}."
    if "s" in traces:
        intro += " h is the LSTM's hidden state, s its cell state."
    sections = [("What the text is doing, and the unit that follows it",
                 intro, rows)]
    rows = []
    for trace, u in units:
        values = [v[u] for v in traces[trace]]
        rows.append((f"{trace} {u}: {min(values):+.2f} to "
                     f"{max(values):+.2f}", values,
                     max(1.0, max(map(abs, values))),  # s can pass ±1
                     f"{trace} {u}", f'data-unit="{u}" data-trace="{trace}"'
                     if trace == "s" else f'data-unit="{u}"'))
    if chosen:
        sections.append(("The units of --units", "In the order given.",
                         rows))
    else:
        sections.append(("Units that change slowly", (
            f"The units whose values after consecutive characters correlate "
            f"most, among those that range over {SLOW_RANGE:g} or more: "
            f"they carry something from character to character."), rows))
    return sections


def gate_saturation(model, hs, gates, svg_path, title):
    """Print how each gate's units saturate and write the scatters as
    svg_path. The vanilla RNN has no gates: its tanh h instead, below -0.9
    and above +0.9."""
    if not gates:
        edge = 1 - SATURATED                         # |h| > 0.9: saturated
        fractions = saturation(hs, -edge, edge)
        share = sum(lo + hi for lo, hi in fractions) / len(fractions)
        print(f"no gates in the rnn; instead, |h| > {edge:g} at {share:.0%} "
              f"of positions, averaged over units; below -{edge:g} counts "
              f"as left, above +{edge:g} as right: "
              f"{saturation_summary(fractions)}")
        panels = [("h, the tanh state", f"fraction below -{edge:g}",
                   f"fraction above +{edge:g}", fractions)]
    else:
        print(f"gates over {len(hs):,} positions (saturated: below "
              f"{SATURATED:g} or above {1 - SATURATED:g}):")
        panels = []
        for gate, _, what in GATES_IN_CACHE[cell_name(model)]:
            fractions = saturation(gates[gate], SATURATED, 1 - SATURATED)
            print(f"  {gate} ({what} gate): "
                  f"{saturation_summary(fractions)}")
            panels.append((f"{gate}, the {what} gate",
                           f"fraction below {SATURATED:g}",
                           f"fraction above {1 - SATURATED:g}", fractions))
    write_atomically(svg_path, gates_svg(panels, title))
    print(f"chart: {svg_path}")


# --- measuring: a counting baseline, interpolated Kneser-Ney n-grams ---------
# An order-n model predicts the next character from the n-1 before it by
# counting. Kneser-Ney takes a discount D off every count and shares what it
# took, D·(distinct next chars), out by the order below, so nothing is 0:
#
#   p_n(c | h) = (max(N(h c) - D, 0) + D·types(h)·p_(n-1)(c | h')) / N(h ·)
#
# h' is h without its first character, N(h ·) the sum of the counts after h,
# types(h) how many distinct characters follow h, and p_0 = 1/vocab. The top
# order counts occurrences; the orders below count after how many distinct
# characters a string occurs: once a longer context has failed, what matters
# is how many contexts a character follows, not how often it occurs.

def kn_table(grams):
    """One order from {string: count}: ({context: (counts by next char,
    their sum, distinct next chars)}, D), with Ney's D = n1 / (n1 + 2·n2),
    n1 and n2 the strings counted once and twice (D = 0.1 if none once)."""
    table = {}
    for gram, n in grams.items():
        table.setdefault(gram[:-1], {})[gram[-1]] = n
    n1 = sum(1 for n in grams.values() if n == 1)
    n2 = sum(1 for n in grams.values() if n == 2)
    D = n1 / (n1 + 2 * n2) if n1 else 0.1
    return {h: (counts, sum(counts.values()), len(counts))
            for h, counts in table.items()}, D


def fit_ngrams(text, vocab, max_order=NGRAM_ORDER):
    """Kneser-Ney tables of text, orders 1..max_order: "top"[k] counts each
    k-gram, "lower"[k] the distinct characters seen before each k-gram."""
    grams = [None] + [Counter(text[i:i + k] for i in range(len(text) - k + 1))
                      for k in range(1, max_order + 1)]
    top = [None] + [kn_table(grams[k]) for k in range(1, max_order + 1)]
    lower = [None] + [kn_table(Counter(g[1:] for g in grams[k + 1]))
                      for k in range(1, max_order)]      # one per x in x+g
    return {"vocab": vocab, "top": top, "lower": lower}


def ngram_prob(ngrams, order, context, c):
    """p(c | context) under the order-`order` model: from p_0 = 1/vocab up
    through each order, on the last order-1 characters of context. Near a
    text's start, with a shorter context, the top order is len(context)+1."""
    n = min(order, len(context) + 1)
    p = 1.0 / len(ngrams["vocab"])                       # p_0: uniform
    for k in range(1, n + 1):
        table, D = ngrams["top" if k == n else "lower"][k]
        seen = table.get(context[len(context) - k + 1:] if k > 1 else "")
        if seen is None:                 # never seen, nor any longer one
            break
        counts, total, types = seen
        p = (max(counts.get(c, 0) - D, 0.0) + D * types * p) / total
    return p


def ngram_probs(ngrams, order, text):
    """p(text[t] | text[:t]) for t = 1..len(text)-1: the characters that
    evaluate() scores, from the same start."""
    return [ngram_prob(ngrams, order, text[max(0, t - order + 1):t], text[t])
            for t in range(1, len(text))]


def bits_of(probs):
    """Average -log2 p over a list of probabilities."""
    return -sum(math.log2(p) for p in probs) / len(probs)


def ngram_baseline(train_text, val_text, vocab, max_order=NGRAM_ORDER):
    """Fit on train_text, score val_text with every order:
    (best order, {order: bits/char}, the fitted tables)."""
    ngrams = fit_ngrams(train_text, vocab, max_order)
    bits = {n: bits_of(ngram_probs(ngrams, n, val_text))
            for n in range(1, max_order + 1)}
    return min(bits, key=bits.get), bits, ngrams


# --- measuring: the network against counting, and the two mixed --------------

def mixture(net_logs, ngram_ps):
    """p = λ·p_network + (1 - λ)·p_ngram, λ in 0, 0.01 ... 0.99 picked on
    the first half of the predictions (λ = 1 could take log 0 where the
    network's p underflows; the n-gram's p is never 0). Returns λ and the
    bits/char on the second half of the mixture, the network alone and the
    n-gram alone."""
    half = len(net_logs) // 2
    net_ps = [math.exp(v) for v in net_logs]

    def mixed_bits(lam, part):
        return bits_of([lam * pn + (1.0 - lam) * pg
                        for pn, pg in zip(net_ps[part], ngram_ps[part])])

    first, second = slice(0, half), slice(half, None)
    lam = min((k / 100 for k in range(100)),
              key=lambda lam: mixed_bits(lam, first))
    net_bits = -sum(net_logs[second]) / len(net_logs[second]) / math.log(2)
    return (lam, mixed_bits(lam, second), net_bits,
            bits_of(ngram_ps[second]))


def counting_lines(model, vocab, train_text, val_text, text, name):
    """The model against the best n-gram on text (called `name`): fitted on
    train_text, its order picked on val_text; then their mixture."""
    start = time.monotonic()
    counted = train_text[-NGRAM_MAX_CHARS:]          # about 0.7 GB a million
    best, _, ngrams = ngram_baseline(counted, val_text, vocab)
    ngram_ps = ngram_probs(ngrams, best, text)
    seconds = time.monotonic() - start
    net_logs = log_probs(model, encode(text, vocab))
    net = -sum(net_logs) / len(net_logs) / math.log(2)
    ngram = bits_of(ngram_ps)
    verdict = "worse" if net > ngram else "better"
    lines = [f"{best}-gram (Kneser–Ney) on the same {name}: {ngram:#.4g} "
             f"bits/char; the model's {net:#.4g} is {abs(net - ngram):.3f} "
             f"{verdict} (best of orders 1-{NGRAM_ORDER}, {seconds:.1f} s)"]
    if len(counted) < len(train_text):
        lines[0] += f"; counted the last {len(counted):,} training chars"
    if len(net_logs) >= 4:                         # 2 predictions a half
        lam, mixed, net_half, counted_half = mixture(net_logs, ngram_ps)
        lines.append(f"mixture {lam:.2f}·model + {1 - lam:.2f}·{best}-gram, "
                     f"λ picked on the first half: {mixed:#.4g} bits/char on "
                     f"the second half (model alone {net_half:#.4g}, "
                     f"{best}-gram alone {counted_half:#.4g})")
    return lines


# --- measuring: --evaluate, a model's bits per character on a text file ------

def training_texts(model_path, checkpoint, vocab):
    """(training text, validation text) of the model's data file, split as
    in training; or (None, why not) if the file is not at hand, changed or
    has no validation part."""
    config = checkpoint.get("config", {})
    data = config.get("data")
    if not isinstance(data, str):
        return None, f"{model_path} does not name its data file"
    beside = os.path.join(os.path.dirname(model_path), data)
    path = data if os.path.isfile(data) else beside
    if not os.path.isfile(path):
        return None, f"its data file {data} was not found"
    try:
        text = read_text(path)
    except UserError as e:
        return None, str(e)
    if sorted(set(text)) != vocab:
        return None, f"{path} has changed since training"
    fraction = config.get("validation_fraction")
    if type(fraction) not in (int, float) or not 0 <= fraction < 1:
        fraction = VALIDATION_FRACTION
    train_text, val_text = split_data(text, fraction)
    if not val_text:
        return None, f"{path} has no validation part to pick an order on"
    return (train_text, val_text), None


def run_evaluate(args):
    """--evaluate: the model's bits per character on a file, then the
    n-gram comparison if the model's data file is at hand."""
    path = args.evaluate
    model, vocab, checkpoint = load_model_for(args)
    if not os.path.isfile(path):
        problem = "is a folder" if os.path.isdir(path) else "was not found"
        raise UserError(f"--evaluate file {path} {problem}")
    try:
        text = read_text(path)                       # UTF-8, 2 chars or more
    except UserError as e:                           # name the flag
        raise UserError(str(e).replace("data file", "--evaluate file", 1))
    ids = encode(text, vocab, f"--evaluate file {path}", args.model)
    bits = evaluate(model, ids)
    print(f"{path}: {bits:#.4g} bits/char over {len(ids) - 1:,} predictions "
          f"({args.model}: {checkpoint['cell']}, hidden {len(model.V[0])})")
    texts, why = training_texts(args.model, checkpoint, vocab)
    if texts is None:
        print(f"notice: no n-gram comparison: {why}")
        return bits
    if text in texts[0] or texts[0] in text:         # the training part
        print(f"notice: {path} is or holds text {args.model} was trained "
              f"on; its bits/char (and the n-gram's) measure memory, not "
              f"prediction: evaluate held-out text")
    for line in counting_lines(model, vocab, *texts, text, "text"):
        print(line)
    return bits


# --- measuring: is a sample new text, or copied from the training text? ------

def copy_check(generated, train_text):
    """(how many of generated's words occur as words in train_text, its
    word count, the longest stretch of generated found verbatim in
    train_text). A last word that the sample cuts off is left out."""
    known = set(re.findall(r"\w+", train_text))
    words = re.findall(r"\w+", generated)
    if words and re.match(r"\w", generated[-1]):       # may be cut short
        words.pop()
    longest, i = "", 0
    for j in range(1, len(generated) + 1):   # the longest found ending at j
        while generated[i:j] not in train_text:       # "" is always in
            i += 1
        if j - i > len(longest):
            longest = generated[i:j]
    return sum(word in known for word in words), len(words), longest


def copy_lines(generated, train_text):
    """The copy check as two lines of text."""
    found, total, longest = copy_check(generated, train_text)
    share = f" ({found / total:.0%})" if total else ""
    return [f"copy check on the last sample: {found} of its {total} words"
            f"{share} occur in the training text",
            f"longest stretch of it found verbatim in the training text: "
            f"{len(longest)} characters, {longest!r}"]


# --- measuring: --compare, several runs side by side -------------------------

PALETTE = [("#1f77b4", "#aec7e8"), ("#d62728", "#ff9896"),  # (val, train)
           ("#2ca02c", "#98df8a"), ("#ff7f0e", "#ffbb78"),
           ("#9467bd", "#c5b0d5"), ("#8c564b", "#c49c94"),
           ("#e377c2", "#f7b6d2"), ("#7f7f7f", "#c7c7c7")]


def run_compare(args):
    """--compare: a table row per model file; compare.svg beside the first,
    each model's validation curve and, lighter, its train curve."""
    paths = args.compare
    rows, series = [], []
    for k, path in enumerate(paths):
        model, _, checkpoint = load_model(path)
        history = checkpoint["history"]
        weights = sum(len(row) for row in model.U + model.W + model.V
                      + [model.b, model.c])
        last = [f"{history[key][-1][1]:.3f}" if history[key] else "-"
                for key in ("train", "val")]
        rows.append([path, checkpoint["cell"], f"{len(model.V[0])}",
                     f"{weights:,}", f"{checkpoint['iteration']:,}", *last])
        dark, light = PALETTE[k % len(PALETTE)]
        label = f"{path} ({checkpoint['cell']})"
        series += [(f"val{k}", label, "o", dark, history["val"]),
                   (f"train{k}", "", "*", light, history["train"])]
    heads = ["model", "cell", "hidden", "weights", "iterations", "train",
             "val"]
    widths = [max(len(row[i]) for row in rows + [heads]) for i in range(7)]
    for row in [heads] + rows:
        print("  ".join([row[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(row[1:], widths[1:])]))
    series = [one for one in series if one[4]]           # drawn if any point
    if not series:
        print("notice: no loss history in these files; no chart")
        return
    svg_path = os.path.join(os.path.dirname(paths[0]), "compare.svg")
    write_atomically(svg_path, svg_chart(
        series, "validation loss (dots) and smoothed train loss (lighter)"))
    print(f"chart: {svg_path}")


# --- charts: lines as terminal text and as an SVG file -----------------------
# A chart is a list of series (name, label, mark, color, points), each point
# an (x, y) pair. Log-scale charts pass log10(y), a label for the ticks and
# log=True, which puts the ticks on whole decades.

def loss_series(history):
    """The loss chart: train (every log line) and validation curves."""
    return [("train", "train (smoothed)", "*", "#1f77b4", history["train"]),
            ("val", "validation", "o", "#d62728", history["val"])]


def chart_axes(series, log=False):
    """(x_ticks, y_ticks) covering every point: round numbers, first and
    last tick at the ends of the axis; with log, y is log10 of the value
    and the top tick is the first decade at or above the data."""
    points = [point for *_, line in series for point in line]
    x_ticks = ticks(0, max(x for x, _ in points))
    low, high = min(y for _, y in points), max(y for _, y in points)
    y_ticks = decades(low, high) if log else ticks(low, high)
    return x_ticks, y_ticks


def decades(low, high, count=8):
    """Whole-number ticks (log10 of the value), about `count` steps, from
    the first decade at or above high down to <= low; an even number of
    steps, so that the middle of the axis is a tick too."""
    top, bottom = math.ceil(high), math.floor(low)
    step = next(m for m in (1, 2, 5, 10, 20, 50, 100)
                if (top - bottom) / m <= count)
    steps = max(2, math.ceil((top - bottom) / step))
    steps += steps % 2                               # even: a middle tick
    return [top - k * step for k in reversed(range(steps + 1))]


def ticks(low, high, count=6):
    """About `count` round-numbered ticks from <= low to >= high."""
    raw = max(high - low, 1e-9) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first, last = math.floor(low / step), math.ceil(high / step)
    if first == last:
        last += 1
    return [round(k * step, 10) for k in range(first, last + 1)]


def text_chart(series, y_name="bits/char", x_name="iteration",
               y_label="{:.2f}".format, width=60, height=13, log=False):
    """The series as lines of text, each point drawn with its mark."""
    x_ticks, y_ticks = chart_axes(series, log)
    (x0, x1), (y0, y1) = (x_ticks[0], x_ticks[-1]), (y_ticks[0], y_ticks[-1])
    grid = [[" "] * width for _ in range(height)]
    for _, _, mark, _, points in series:
        for x, y in points:
            column = round((x - x0) / (x1 - x0) * (width - 1))
            row = round((y1 - y) / (y1 - y0) * (height - 1))
            grid[row][column] = mark
    lines = [f"{y_name}   " + "   ".join(f"{mark} {label}"
                                         for _, label, mark, _, _ in series)]
    for r, row in enumerate(grid):
        label = y1 - r * (y1 - y0) / (height - 1)
        shown = r in (0, height // 2, height - 1)
        lines.append(f"{y_label(label):>6} |" if shown else "       |")
        lines[-1] += "".join(row)
    lines.append("       +" + "-" * width)
    half = width // 2
    lines.append(f"        {x0:<{half}g}{x1:>{width - half}g} {x_name}")
    return "\n".join(lines)


def svg_chart(series, title, x_name="iteration",
              y_name="bits per character", y_label="{:g}".format, log=False):
    """The series as a standalone SVG document: axes, ticks, legend; a dot
    on every point of a series marked "o"."""
    width, height, left, right, top, bottom = 720, 420, 70, 150, 60, 50
    wider = 7 * max(0, max(len(s[1]) for s in series) - 16)  # long labels
    width, right = width + wider, right + wider
    x_ticks, y_ticks = chart_axes(series, log)
    (x0, x1), (y0, y1) = (x_ticks[0], x_ticks[-1]), (y_ticks[0], y_ticks[-1])

    def sx(x):
        return left + (x - x0) / (x1 - x0) * (width - left - right)

    def sy(y):
        return top + (y1 - y) / (y1 - y0) * (height - top - bottom)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" '
             f'font-family="sans-serif" font-size="13">',
             f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<text x="{width / 2}" y="28" text-anchor="middle" '
             f'font-size="15">{html.escape(title)}</text>']
    for x in x_ticks:                                         # vertical grid
        parts.append(f'<line x1="{sx(x):.1f}" y1="{top}" x2="{sx(x):.1f}" '
                     f'y2="{height - bottom}" stroke="#ddd"/>')
        parts.append(f'<text x="{sx(x):.1f}" y="{height - bottom + 18}" '
                     f'text-anchor="middle">{x:g}</text>')
    for y in y_ticks:                                         # horizontal grid
        parts.append(f'<line x1="{left}" y1="{sy(y):.1f}" '
                     f'x2="{width - right}" y2="{sy(y):.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 8}" y="{sy(y) + 4:.1f}" '
                     f'text-anchor="end">{y_label(y)}</text>')
    parts.append(f'<path d="M{left},{top} V{height - bottom} '
                 f'H{width - right}" fill="none" stroke="black"/>')  # axes
    parts.append(f'<text x="{(left + width - right) / 2}" y="{height - 12}" '
                 f'text-anchor="middle">{html.escape(x_name)}</text>')
    parts.append(f'<text transform="translate(20 '
                 f'{(top + height - bottom) / 2}) rotate(-90)" '
                 f'text-anchor="middle">{html.escape(y_name)}</text>')
    labelled = 0
    for name, label, mark, color, line in series:
        points = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in line)
        parts.append(f'<polyline class="{name}" points="{points}" fill="none" '
                     f'stroke="{color}" stroke-width="2"/>')
        if mark == "o":                            # a dot per measurement
            for x, y in line:
                parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" '
                             f'r="3" fill="{color}"/>')
        if not label:                              # not in the legend
            continue
        ly = top + 10 + 22 * labelled                            # legend
        labelled += 1
        parts.append(f'<line x1="{width - right + 12}" y1="{ly}" '
                     f'x2="{width - right + 36}" y2="{ly}" stroke="{color}" '
                     f'stroke-width="2"/>')
        parts.append(f'<text x="{width - right + 42}" y="{ly + 4}">'
                     f'{html.escape(label)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


# --- main: flags, then train or generate -------------------------------------

class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports a bad flag as one 'error:' line."""

    def error(self, message):
        raise UserError(message)


def temperatures(text):
    """--temperature value: one number or several, comma-separated."""
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number or a "
                                         f"comma-separated list of numbers")


def parse_args(argv):
    """Flags, each defaulting to the constant of the same name."""
    p = ArgumentParser(description="Train a character-level RNN on a text "
                       "file, then generate text from it. Each flag's "
                       "default is the constant of the same name at the "
                       "top of the file.", allow_abbrev=False,
                       prog="rnn_from_scratch.py" if hosted() else None)
    p.add_argument("--data", metavar="PATH", default=DATA_PATH,
                   help="training text, UTF-8 (default: %(default)s)")
    p.add_argument("--model", metavar="PATH", default=MODEL_PATH,
                   help="model file that training writes and --generate, "
                   "--predict and --resume read (default: %(default)s)")
    p.add_argument("--cell", metavar="CELL", default=CELL,
                   help="rnn (vanilla), gru or lstm (default: %(default)s)")
    p.add_argument("--hidden-size", metavar="N", type=int,
                   default=HIDDEN_SIZE,
                   help="hidden units (default: %(default)s)")
    p.add_argument("--sequence-length", metavar="N", type=int,
                   default=SEQUENCE_LENGTH,
                   help="characters per chunk of backpropagation through "
                   "time (default: %(default)s)")
    p.add_argument("--learning-rate", metavar="RATE", type=float,
                   default=LEARNING_RATE,
                   help="Adagrad step size (default: %(default)s)")
    p.add_argument("--max-iterations", metavar="N", type=int,
                   default=MAX_ITERATIONS,
                   help="training updates in all, one chunk each; --resume "
                   "counts on to this (default: %(default)s)")
    p.add_argument("--sample-every", metavar="N", type=int,
                   default=SAMPLE_EVERY,
                   help="validate, print a sample and save a checkpoint "
                   "every N iterations (default: %(default)s)")
    p.add_argument("--sample-length", metavar="N", type=int,
                   default=SAMPLE_LENGTH,
                   help="characters to generate (default: %(default)s)")
    p.add_argument("--prime-text", metavar="TEXT",
                   help="text fed in before sampling (default: PRIME_TEXT, "
                   f"{PRIME_TEXT!r}, or the data's first word if the data "
                   "lacks some of its characters)")
    p.add_argument("--temperature", metavar="T[,T...]", type=temperatures,
                   default=[TEMPERATURE],
                   help="sampling temperature; several, comma-separated, "
                   "give one sample each; 0 = greedy, always the likeliest "
                   f"character (default: {TEMPERATURE})")
    p.add_argument("--validation-fraction", metavar="F", type=float,
                   default=VALIDATION_FRACTION,
                   help="last part of the data held out for validation "
                   "(default: %(default)s)")
    p.add_argument("--log-every", metavar="N", type=int, default=LOG_EVERY,
                   help="print a progress line every N iterations "
                   "(default: %(default)s)")
    p.add_argument("--seed", metavar="N", type=int, default=SEED,
                   help="random seed for the weights and the samples "
                   "(default: %(default)s)")
    p.add_argument("--generate", metavar="TEXT",
                   help="load --model, continue TEXT and print only that")
    p.add_argument("--predict", metavar="TEXT",
                   help="load --model and show its top 3 guesses for each "
                   "next character of TEXT")
    p.add_argument("--gradient-flow", metavar="TEXT",
                   help="load --model and measure how far back the gradient "
                   "of each next-character loss reaches over TEXT; writes "
                   "gradient_flow.svg beside the model")
    p.add_argument("--flow-steps", metavar="K", type=int, default=FLOW_STEPS,
                   help="steps back for --gradient-flow (default: "
                   "%(default)s)")
    p.add_argument("--activations", metavar="TEXT",
                   help="load --model, print the unit that best follows each "
                   "property of TEXT (quotes, brackets, column, ...) and how "
                   "the gates saturate; write activations.html (TEXT "
                   "coloured by those units) and gates.svg beside it")
    p.add_argument("--units", metavar="N[,N...]",
                   help="units for --activations, after the properties: "
                   "3,17, or s51 for an LSTM's cell state (default: the 8 "
                   "that change most slowly over TEXT)")
    p.add_argument("--resume", action="store_true",
                   help="continue training --model where it stopped, with "
                   "its saved data, sequence length, learning rate, "
                   "validation fraction, sample and log intervals and seed "
                   "unless you give the flag (without --resume, training "
                   "keeps an existing model file as NAME.old.json)")
    p.add_argument("--check", action="store_true",
                   help="check every cell's backward pass against central "
                   "differences and its loss against a recorded value; "
                   "with --cell, only that cell (needs no data or model)")
    p.add_argument("--evaluate", metavar="PATH",
                   help="load --model and print its bits per character on "
                   "the text file PATH, beside the counting baseline's")
    p.add_argument("--compare", metavar="MODEL", nargs="+",
                   help="print a table of these model files and write "
                   "compare.svg, their loss curves, beside the first")
    p.add_argument("--top-k", metavar="K", type=int, default=TOP_K,
                   help="sample only among the K likeliest characters, "
                   "after the temperature; 0 = all (default: %(default)s)")
    args, unknown = p.parse_known_args(argv)
    if unknown:
        raise UserError(unknown_flag(unknown, vars(args)))
    args.argv = list(argv)              # for the command that resumes
    args.given = {a.split("=", 1)[0] for a in argv if a.startswith("--")}
    args.from_model = set()             # flags --resume took from the file
    args.old_model = None               # where a new run keeps the old file
    args.saved = False                  # has this run saved a checkpoint?
    check_args(args)
    return args


def unknown_flag(unknown, settings):
    """The error for arguments no flag takes, with the real flag closest to
    a mistyped one: "did you mean --hidden-size?". settings: the parsed
    flags' names, e.g. "hidden_size"."""
    message = f"unrecognized arguments: {' '.join(unknown)}"
    names = [name.replace("_", "-") for name in settings] + ["help"]
    for typed in unknown:                           # compared without "--"
        word = typed.split("=", 1)[0].lstrip("-")
        close = ([n for n in names if len(word) > 1 and (n.startswith(word)
                  or "".join(part[0] for part in n.split("-")) == word)]
                 or difflib.get_close_matches(word, names, n=1))
        if typed.startswith("-") and close:
            return f"{message}; did you mean --{close[0]}?"
    return f"{message}; see --help for every flag"


def constant_of(flag):
    """The constant that is flag's default: --hidden-size -> HIDDEN_SIZE."""
    return {"--data": "DATA_PATH", "--model": "MODEL_PATH"}.get(
        flag, flag[2:].replace("-", "_").upper())


def named(flag, args):
    """How an error names a setting: the flag if the user typed it, the
    model file if --resume took it from there, else the constant at the
    top of the file that gave the value."""
    if flag in args.given or not flag.startswith("--"):
        return flag
    if flag in args.from_model:
        return f"{flag} saved in {args.model}"
    return f"{constant_of(flag)} at the top of the file (or {flag})"


def check_args(args):
    """Refuse values that cannot work, naming the flag, or the constant
    that gave the value."""
    if args.cell.lower() not in CELLS:
        raise UserError(f"{named('--cell', args)} must be one of "
                        f"{', '.join(CELLS)}, got {args.cell!r}")
    args.cell = args.cell.lower()       # LSTM, Lstm and lstm alike
    for flag, value in [("--hidden-size", args.hidden_size),
                        ("--sequence-length", args.sequence_length),
                        ("--max-iterations", args.max_iterations),
                        ("--sample-every", args.sample_every),
                        ("--log-every", args.log_every),
                        ("--flow-steps", args.flow_steps)]:
        if value < 1:
            raise UserError(f"{named(flag, args)} must be at least 1, "
                            f"got {value}")
    if args.sample_length < 0:
        raise UserError(f"{named('--sample-length', args)} must be 0 or "
                        f"more, got {args.sample_length}")
    if not (math.isfinite(args.learning_rate) and args.learning_rate > 0):
        raise UserError(f"{named('--learning-rate', args)} must be a finite "
                        f"number > 0, got {args.learning_rate}")
    for value in args.temperature:
        if not (math.isfinite(value) and value >= 0):
            raise UserError(f"{named('--temperature', args)} must be a "
                            f"finite number >= 0 (0 = greedy), got {value}")
    if args.top_k < 0:
        raise UserError(f"{named('--top-k', args)} must be 0 (off) or more, "
                        f"got {args.top_k}")
    if not 0 <= args.validation_fraction < 1:
        raise UserError(f"{named('--validation-fraction', args)} must be "
                        f"in [0, 1), got {args.validation_fraction}")
    for flag, mode in [("--units", "--activations"),
                       ("--flow-steps", "--gradient-flow")]:
        if flag in args.given and getattr(args, mode[2:].replace("-", "_")
                                          ) is None:
            raise UserError(f"{flag} goes with {mode} TEXT; without it this "
                            f"command would train a new model")
    for flag, text in [("--generate", args.generate),
                       ("--predict", args.predict),
                       ("--gradient-flow", args.gradient_flow),
                       ("--activations", args.activations),
                       ("--evaluate", args.evaluate),
                       ("--prime-text", PRIME_TEXT if args.prime_text is None
                        else args.prime_text)]:
        if text == "":
            raise UserError(f"{named(flag, args)} needs at least one "
                            f"character")


def load_model_for(args):
    """load_model(args.model) for a command that reads a model: (model,
    vocab, checkpoint). A --cell or --hidden-size typed on the command
    line that the file contradicts is an error; otherwise the file's
    cell and hidden size become args.cell and args.hidden_size."""
    model, vocab, checkpoint = load_model(args.model)
    hidden, cell = len(model.V[0]), checkpoint["cell"]
    for flag, given, has in [("--cell", args.cell, cell),
                             ("--hidden-size", args.hidden_size, hidden)]:
        if flag in args.given and given != has:
            raise UserError(f"{flag} {given} does not match {args.model}, "
                            f"which has {has}; leave the flag out to use "
                            f"the file's")
    args.cell, args.hidden_size = cell, hidden
    return model, vocab, checkpoint


# settings a resumed run takes from the model's config, unless a flag is
# typed: (config key, the type JSON must hold), the key naming the flag
RESUMED = [("data", str), ("sequence_length", int), ("learning_rate", float),
           ("validation_fraction", float), ("sample_every", int),
           ("log_every", int), ("seed", int)]


def resume(args):
    """(model, vocab, progress) from --model, for --resume. The run goes
    on with the file's saved settings: a flag the user typed replaces
    one, and a constant at the top of the file never does; either way a
    notice says which value is used."""
    constants = {"--cell": args.cell, "--hidden-size": args.hidden_size}
    model, vocab, checkpoint = load_model_for(args)
    for flag, has in [("--cell", args.cell),
                      ("--hidden-size", args.hidden_size)]:
        if flag not in args.given and constants[flag] != has:
            print(f"notice: using {args.model}'s {flag} {has}, not "
                  f"{constant_of(flag)} = {constants[flag]!r} at the top of "
                  f"the file")
    if "--max-iterations" not in args.given:
        print(f"notice: training on to MAX_ITERATIONS = "
              f"{args.max_iterations:,} at the top of the file; pass "
              f"--max-iterations to choose the total")
    saved = checkpoint["config"]
    for key, kind in RESUMED:
        if key not in saved:                # saved by an older version
            continue
        flag = "--" + key.replace("_", "-")
        has, now = saved[key], getattr(args, key)
        if not (type(has) is kind or (kind is float and type(has) is int)):
            want = {str: "a path", int: "a whole number", float: "a number"}
            raise UserError(f"{args.model} is not a usable model file: "
                            f"config {key} is {has!r}, not {want[kind]}")
        if has == now:
            continue
        if flag in args.given:
            print(f"notice: {flag} {now} replaces {has}, the value "
                  f"{args.model} was trained with")
        else:
            print(f"notice: using {args.model}'s {flag} {has}, not "
                  f"{constant_of(flag)} = {now!r} at the top of the file")
            setattr(args, key, has)
            args.from_model.add(flag)
    check_args(args)                    # saved values, checked like flags
    if checkpoint["iteration"] >= args.max_iterations:
        raise UserError(f"{args.model} is already at iteration "
                        f"{checkpoint['iteration']}; raise --max-iterations "
                        f"to train further")
    keys = ("iteration", "position", "h", "smooth_loss", "history")
    return model, vocab, {key: checkpoint[key] for key in keys}


def prime_for(args, text, vocab):
    """Indices of the text fed in before sampling. --prime-text must fit
    the data; the PRIME_TEXT default gives way to the data's first word
    when the user's own text lacks some of its characters."""
    if args.prime_text is not None:
        return encode(args.prime_text, vocab, "--prime-text", args.data)
    missing = sorted(set(PRIME_TEXT) - set(vocab))
    if not missing:
        return encode(PRIME_TEXT, vocab)
    first_word = (text.split() or [text])[0][:20]
    print(f"notice: PRIME_TEXT {PRIME_TEXT!r} has characters that are not "
          f"in {args.data} ({show_chars(missing)}); samples start from the "
          f"data's first word, {first_word!r}, instead")
    return encode(first_word, vocab)


def run_training(args, rng):
    """Train a new model, or continue one with --resume; then sample."""
    if args.resume:
        model, model_vocab, progress = resume(args)
        rng.seed(args.seed)
    hint = "pass --data with the path of a text file"
    if "--data" in args.from_model:
        hint = f"{args.model} was trained on it; pass --data with its path"
    text = read_text(args.data, hint)
    vocab = sorted(set(text))
    if args.resume and model_vocab != vocab:
        new = show_chars(sorted(set(vocab) - set(model_vocab))) or "none"
        gone = show_chars(sorted(set(model_vocab) - set(vocab))) or "none"
        raise UserError(f"{args.data} and {args.model} have different "
                        f"characters (only in the data: {new}; only in the "
                        f"model: {gone}); resume with the data it was "
                        f"trained on, or train anew without --resume")
    prime_ids = prime_for(args, text, vocab)        # fail before training
    check_writable(args.model)
    train_text, val_text = split_data(text, args.validation_fraction)
    if not args.resume:
        args.old_model = plan_to_keep(args.model)   # kept at the first save
        model = CELLS[args.cell](len(vocab), args.hidden_size, args.seed)
        progress = {"iteration": 0, "position": 0, "h": model.zero_state(),
                    "smooth_loss": math.log2(len(vocab)),
                    "history": {"train": [[0, math.log2(len(vocab))]],
                                "val": []}}

    config = {"data": args.data, "cell": args.cell,
              "hidden_size": args.hidden_size,
              "sequence_length": args.sequence_length,
              "learning_rate": args.learning_rate,
              "max_iterations": args.max_iterations,
              "sample_every": args.sample_every, "log_every": args.log_every,
              "validation_fraction": args.validation_fraction,
              "seed": args.seed, "vocab_size": len(vocab)}
    folder = os.path.dirname(args.model)

    weights = sum(len(row) for row in model.U + model.W + model.V
                  + [model.b, model.c])
    start = (f"resuming {args.model} at iteration {progress['iteration']}"
             if args.resume else f"new, seed {args.seed}")
    print(f"data: {args.data}, {len(text):,} characters, {len(vocab)} "
          f"distinct ({len(train_text):,} to train on, {len(val_text):,} "
          f"to validate)")
    if not val_text:
        print("notice: no validation split (the data or "
              "--validation-fraction is too small); skipping validation")
    print(f"model: {args.cell}, hidden {args.hidden_size}, {weights:,} "
          f"weights; {start}")
    print(f"training: {args.max_iterations:,} iterations of "
          f"{args.sequence_length} characters, learning rate "
          f"{args.learning_rate}, sample and save every {args.sample_every}")
    if args.resume:                     # where the run stands
        val = progress["history"]["val"]
        print(f"so far: iteration {progress['iteration']}, train "
              f"{progress['smooth_loss']:.2f} bits/char, val "
              f"{f'{val[-1][1]:.2f} bits/char' if val else '- (none yet)'}",
              flush=True)
    else:
        print(f"expected loss at start: log2({len(vocab)}) = "
              f"{math.log2(len(vocab)):.2f} bits/char", flush=True)

    chart_path = os.path.join(folder, "loss.svg")
    title = (f"{args.data} ({len(text):,} chars): {args.cell}, hidden "
             f"{args.hidden_size}, sequence {args.sequence_length}, "
             f"learning rate {args.learning_rate}")

    def save():
        if args.old_model and not args.saved and os.path.exists(args.model):
            keep_old_model(args.model, args.old_model)  # never lose a model
        args.saved = True
        save_model(args.model, model, vocab, config, progress)
        write_atomically(os.path.join(folder, "vocab.json"),
                         json.dumps(vocab, ensure_ascii=False, indent=1)
                         + "\n")
        write_atomically(os.path.join(folder, "config.json"),
                         json.dumps(config, indent=2) + "\n")
        write_atomically(chart_path,
                         svg_chart(loss_series(progress["history"]), title))

    def sample():
        return generate(model, vocab, prime_ids, args.sample_length,
                        args.temperature[0], rng, args.top_k)

    train(model, vocab, encode(train_text, vocab), encode(val_text, vocab),
          progress, args, save, sample)
    print(text_chart(loss_series(progress["history"])))
    print(f"saved {args.model}; loss chart: {chart_path}")
    if in_ipython() and ("ipykernel" in sys.modules   # Jupyter, Colab
                         or sys.platform == "emscripten"):   # JupyterLite
        shown = sys.modules["IPython"].display    # loaded; never imported
        shown.display(shown.SVG(filename=chart_path))
    if val_text:                                     # the yardstick
        print("\n".join(counting_lines(model, vocab, train_text, val_text,
                                       val_text, "validation text")))
    for temperature in args.temperature:
        sampled = generate(model, vocab, prime_ids, args.sample_length,
                           temperature, rng, args.top_k)
        print_sample(f"sample at temperature {temperature}", sampled)
    if args.sample_length:                           # new text, or copied?
        print("\n".join(copy_lines(sampled[len(prime_ids):], train_text)))


def run_generate(args, rng):
    """--generate: print the prime and its continuation, nothing else.
    Several temperatures print one labelled sample each."""
    model, vocab, _ = load_model_for(args)
    prime_ids = encode(args.generate, vocab, "--generate text", args.model)
    for temperature in args.temperature:
        text = generate(model, vocab, prime_ids, args.sample_length,
                        temperature, rng, args.top_k)
        if len(args.temperature) > 1:
            print(f"--- temperature {temperature} ".ljust(79, "-"))
        print(text)


def load_to_look_inside(args, view):
    """(model, vocab, checkpoint, a chart title naming the file and view)."""
    model, vocab, checkpoint = load_model_for(args)
    title = (f"{args.model}: {checkpoint['cell']}, hidden "
             f"{len(model.V[0])}: {view}")
    return model, vocab, checkpoint, title


def run_gradient_flow(args):
    """--gradient-flow: the table, the text chart and gradient_flow.svg."""
    model, vocab, checkpoint, title = load_to_look_inside(
        args, "how far back the gradient reaches")
    trained = checkpoint["config"].get("sequence_length")
    if type(trained) is not int or trained < 1:
        trained = SEQUENCE_LENGTH
    path = os.path.join(os.path.dirname(args.model), "gradient_flow.svg")
    gradient_flow(model, vocab, args.gradient_flow, args.flow_steps,
                  trained, path, title, args.model)


def run_activations(args):
    """--activations: print the best unit for each property, write
    activations.html; print and draw how the gates saturate (gates.svg)."""
    model, vocab, _, title = load_to_look_inside(args, "single units")
    text = args.activations
    ids = encode(text, vocab, "--activations text", args.model)
    hs, probs = hidden_trace(model, ids)
    cell_states, gates = gate_trace(model, ids)
    traces = {"h": hs} if cell_states is None else {"h": hs,
                                                    "s": cell_states}
    units = units_to_show(traces, args.units)
    properties = text_properties(text)
    found = best_units(properties, traces)
    folder = os.path.dirname(args.model)
    path = os.path.join(folder, "activations.html")
    sections = page_sections(properties, found, traces, units,
                             args.units is not None)
    write_atomically(path, activations_page(vocab, text, probs, sections,
                                            title))
    print(f"wrote {path}")
    print_found(found, len(text))
    print("units given with --units:" if args.units is not None else
          "units of h that change slowly (the correlation of each value "
          "with the next):")
    for trace, u in units:
        values = [v[u] for v in traces[trace]]
        step_r = pearson(values[:-1], values[1:]) if len(hs) > 2 else None
        print(f"{trace} {u}: from {min(values):+.3f} to {max(values):+.3f}, "
              f"with the next "
              f"{'-' if step_r is None else format(step_r, '+.2f')}")
    gate_saturation(model, hs, gates, os.path.join(folder, "gates.svg"),
                    title.replace("single units", "how the gates saturate"
                                  if gates else "how h saturates (no gates)"))


def in_ipython():
    """True in Jupyter, Colab or IPython: IPython is loaded and a shell is
    running (importing IPython elsewhere, as pytest may, is not enough)."""
    ipython = sys.modules.get("IPython")
    return getattr(ipython, "get_ipython", lambda: None)() is not None


def hosted():
    """True where the file runs inside another program, with no process
    of its own to exit: a notebook, or a browser tab (Pyodide, JupyterLite),
    where sys.platform is "emscripten"."""
    return in_ipython() or sys.platform == "emscripten"


def command_line():
    """sys.argv[1:], except in a notebook cell or a browser tab, where
    sys.argv is the host's (a kernel's -f kernel-....json, Pyodide's ['']).
    `%run rnn_from_scratch.py --flags` keeps its flags: there sys.argv[0]
    is this file."""
    script = globals().get("__file__")
    if hosted() and not (script and os.path.basename(sys.argv[0])
                         == os.path.basename(script)):
        return []
    return sys.argv[1:]


def interpreter():
    """The Python command as the user typed it: python3, pypy3 or
    .venv/bin/python. A path whose name, looked up on PATH, is this same
    file is shortened to the name (pyenv's shims run a full path)."""
    typed = (getattr(sys, "orig_argv", None)             # Python 3.10+
             or [sys.executable])[0] or "python"
    name = os.path.basename(typed)
    found = shutil.which(name) if name != typed else None
    try:
        if found and os.path.samefile(found, typed):
            return name
    except OSError:                                      # a path gone since
        pass
    return typed


# the commands that read a model instead of training one, and the flags
# that only training uses
VIEWS = ("--generate", "--predict", "--gradient-flow", "--activations",
         "--evaluate", "--compare")
TRAINING_ONLY = {"--data", "--sequence-length", "--learning-rate",
                 "--max-iterations", "--sample-every", "--validation-fraction",
                 "--log-every", "--prime-text", "--resume"}


def command_for(flags):
    """How to run this file with flags where it runs now: main([...]) in a
    notebook or a browser tab, else the command line as the user typed it
    (python3, pypy3 or a venv's python, and the script's path)."""
    if hosted():
        return f"main({flags!r})"
    script = sys.argv[0] if sys.argv[0].endswith(".py") else (
        "rnn_from_scratch.py")
    return shlex.join([interpreter(), script] + flags)


def resume_command(argv):
    """What to run to continue training with the same flags."""
    return command_for([a for a in argv if a != "--resume"] + ["--resume"])


def main(argv=None):
    """Run the command line (argv: a list of flags, default the command
    line's); returns the exit status."""
    argv = command_line() if argv is None else argv
    try:
        args = parse_args(argv)
        rng = random.Random(args.seed)
        if args.check:                  # its own problem: no data, no model
            cells = [args.cell] if "--cell" in args.given else list(CELLS)
            return run_check(cells, sorted(args.given - {"--check",
                                                         "--cell"}))
        view = next((flag for flag in VIEWS
                     if getattr(args, flag[2:].replace("-", "_"))), None)
        unused = sorted(args.given & TRAINING_ONLY)
        if view and unused:             # to stderr: --generate's output is
            print(f"notice: {view} reads {args.model} and ignores "  # text
                  f"{', '.join(unused)}", file=sys.stderr)
        if args.generate is not None:
            run_generate(args, rng)
        elif args.predict is not None:
            model, vocab, _ = load_model_for(args)
            predict(model, vocab, args.predict, source=args.model)
        elif args.gradient_flow is not None:
            run_gradient_flow(args)
        elif args.activations is not None:
            run_activations(args)
        elif args.evaluate is not None:
            run_evaluate(args)
        elif args.compare is not None:
            run_compare(args)
        else:
            run_training(args, rng)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:      # the last line: how to continue
        print(e.args[0] if e.args else "interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:             # piped into `head`, say: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except SystemExit as e:             # --help has printed the help
        return e.code or 0
    return 0


if __name__ == "__main__":
    status = main()
    if not hosted():                    # no SystemExit in a notebook or tab
        sys.exit(status)
