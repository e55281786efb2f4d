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
      python rnn_from_scratch.py --activations TEXT    single units, as HTML
      python rnn_from_scratch.py --help                every flag
"""

# --- imports -----------------------------------------------------------------

import argparse
import html
import json
import math
import os
import random
import re
import shlex
import signal
import sys
import tempfile
import time
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
        choices = sorted(choices, key=lambda i: -scores[i])[:top_k]
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
            dh_raw = [(1.0 - h * h) * g                  # backprop thru tanh
                      for h, g in zip(hs[t], dh)]
            for i, g in enumerate(dh_raw):               # dU[:, x_t] += dh_raw
                dU[i][inputs[t]] += g
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
# gate, in PyTorch's order. It writes only its own step_forward and
# step_backward; the chunk loop, the output layer, update and sample are
# shared. The vanilla RNN above is the same loop with the cell written inline.

def sigmoid(x):
    """σ(x) = 1 / (1 + e^-x), computed as 0.5 + 0.5·tanh(x/2): the same
    number, but exp never overflows for a large |x|."""
    return 0.5 + 0.5 * math.tanh(0.5 * x)


def hidden_of(state):
    """h of a state: the state itself, or the h of an LSTM's (h, s)."""
    return state[0] if isinstance(state, tuple) else state


class GatedRNN(RecurrentNeuralNetwork):
    """Base of GRU and LSTM. U: (G·hidden)×vocab, W: (G·hidden)×hidden,
    b: G·hidden, stacked block by block; V: vocab×hidden, c: vocab."""

    GATES = 1                                  # G: blocks in U, W and b

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
        dys, d_inputs, d_hiddens = [None] * T, [None] * T, [None] * T
        d_next = self.zero_state()                       # from step t+1
        for t in reversed(range(T)):                     # backward pass
            dy = list(ps[t])
            dy[targets[t]] -= 1.0                        # dL/do = p - onehot
            dh = [dot(V_col, dy) for V_col in VT]        # Vᵀ·dy, into h_t
            d_input, d_hidden, d_next = self.step_backward(
                dh, d_next, caches[t], WT)               # through the cell
            for i, g in enumerate(d_input):              # dU[:, x_t] += ...
                dU[i][inputs[t]] += g
            dys[t], d_inputs[t], d_hiddens[t] = dy, d_input, d_hidden

        h_prevs = [hidden_of(states[t - 1]) for t in range(T)]
        h_nows = [hidden_of(states[t]) for t in range(T)]
        grads = {"U": dU,
                 "W": outer_sum(d_hiddens, h_prevs),    # Σ d(W·h) h_{t-1}ᵀ
                 "V": outer_sum(dys, h_nows),            # Σ dy h_tᵀ
                 "b": [sum(col) for col in zip(*d_inputs)],
                 "c": [sum(col) for col in zip(*dys)]}
        return loss, grads, states[T - 1]


# --- the GRU cell ------------------------------------------------------------

class GRU(GatedRNN):
    """Gated recurrent unit; blocks r, z, n as in PyTorch's nn.GRU:

        r  = σ(U_r[:, x] + b_r + W_r·h)              reset gate
        z  = σ(U_z[:, x] + b_z + W_z·h)              update gate
        n  = tanh(U_n[:, x] + b_n + r ⊙ (W_n·h))     candidate
        h' = (1 - z) ⊙ n + z ⊙ h                     new hidden state
    """

    GATES = 3

    def step_forward(self, x, h):
        """(h', cache for step_backward) for input index x; h: hidden."""
        H = len(h)
        a = [U_row[x] + b_i for U_row, b_i in zip(self.U, self.b)]
        m = matvec(self.W, h)                            # W·h, all blocks
        r = [sigmoid(ai + mi) for ai, mi in zip(a[:H], m[:H])]
        z = [sigmoid(ai + mi) for ai, mi in zip(a[H:2 * H], m[H:2 * H])]
        n = [math.tanh(ai + ri * mi)                     # candidate
             for ai, ri, mi in zip(a[2 * H:], r, m[2 * H:])]
        h_new = [(1.0 - zi) * ni + zi * hi for zi, ni, hi in zip(z, n, h)]
        return h_new, (h, r, z, n, m[2 * H:])

    def step_backward(self, dh, dh_next, cache, WT):
        """dh: Vᵀ·dy at this step; dh_next: dL/dh' from step t+1.
        Returns (dL/d(U[:, x] + b), dL/d(W·h), dL/dh), each block by block."""
        h, r, z, n, Wn_h = cache
        dh = [g + g_next for g, g_next in zip(dh, dh_next)]   # all of dL/dh'
        dn_raw = [g * (1.0 - zi) * (1.0 - ni * ni)       # thru h' and tanh
                  for g, zi, ni in zip(dh, z, n)]
        dz_raw = [g * (hi - ni) * zi * (1.0 - zi)        # thru h' and σ
                  for g, hi, ni, zi in zip(dh, h, n, z)]
        dr_raw = [d * mi * ri * (1.0 - ri)               # thru r ⊙ and σ
                  for d, mi, ri in zip(dn_raw, Wn_h, r)]
        d_input = dr_raw + dz_raw + dn_raw
        d_hidden = dr_raw + dz_raw + [d * ri for d, ri in zip(dn_raw, r)]
        dh_prev = [g * zi + dot(W_col, d_hidden)         # z ⊙ dh + Wᵀ·d
                   for g, zi, W_col in zip(dh, z, WT)]
        return d_input, d_hidden, dh_prev


# --- the LSTM cell -----------------------------------------------------------

class LSTM(GatedRNN):
    """Long short-term memory; blocks i, f, g, o as in PyTorch's nn.LSTM.
    The state is (h, s), s being the cell state:

        i  = σ(U_i[:, x] + b_i + W_i·h)              input gate
        f  = σ(U_f[:, x] + b_f + W_f·h)              forget gate
        g  = tanh(U_g[:, x] + b_g + W_g·h)           candidate
        o  = σ(U_o[:, x] + b_o + W_o·h)              output gate
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

    def step_backward(self, dh, d_next, cache, WT):
        """dh: Vᵀ·dy at this step; d_next: (dL/dh', dL/ds') from step t+1.
        Returns (dL/d(U[:, x] + b), dL/d(W·h), (dL/dh, dL/ds))."""
        s, i, f, g, o, tanh_s = cache
        dh_next, ds_next = d_next
        dh = [a + b for a, b in zip(dh, dh_next)]        # all of dL/dh'
        ds = [d + dhi * oi * (1.0 - ti * ti)             # thru tanh(s')
              for d, dhi, oi, ti in zip(ds_next, dh, o, tanh_s)]
        di_raw = [d * gi * ii * (1.0 - ii) for d, gi, ii in zip(ds, g, i)]
        df_raw = [d * si * fi * (1.0 - fi) for d, si, fi in zip(ds, s, f)]
        dg_raw = [d * ii * (1.0 - gi * gi) for d, ii, gi in zip(ds, i, g)]
        do_raw = [d * ti * oi * (1.0 - oi) for d, ti, oi in zip(dh, tanh_s, o)]
        d_pre = di_raw + df_raw + dg_raw + do_raw        # U, b and W alike
        dh_prev = matvec(WT, d_pre)                      # Wᵀ·d_pre, to t-1
        ds_prev = [d * fi for d, fi in zip(ds, f)]       # thru f ⊙ s
        return d_pre, d_pre, (dh_prev, ds_prev)


CELLS = {"rnn": RecurrentNeuralNetwork, "gru": GRU, "lstm": LSTM}


# --- data, vocabulary and model files ----------------------------------------

class UserError(Exception):
    """A mistake in the user's input: main() prints it as one line,
    'error: ...', and exits with status 2."""


def read_text(path):
    """The text of a UTF-8 file, with Windows line endings made \\n."""
    if not os.path.isfile(path):
        problem = "is a folder" if os.path.isdir(path) else "was not found"
        raise UserError(f"data file {path} {problem}; "
                        f"pass --data with the path of a text file")
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
    over path: a crash mid-save leaves the old file whole."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, temp_path = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
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
    if not os.path.isfile(path):
        raise UserError(f"model file {path} was not found; train one first "
                        f"with: python rnn_from_scratch.py --model {path}")
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


# --- training ----------------------------------------------------------------

def split_data(text, fraction):
    """(training text, validation text): the last `fraction` is held out.
    The validation text is "" when it would be too short to score."""
    n_val = int(len(text) * fraction)
    if n_val < 2 or len(text) - n_val < 2:
        return text, ""
    return text[:-n_val], text[-n_val:]


def evaluate(model, ids):
    """Average loss in bits per character of predicting ids[1:] from ids
    (forward only, h starts at zero)."""
    h = model.zero_state()
    total = 0.0
    for x, y in zip(ids, ids[1:]):
        h = model.step(x, h)
        o = model.scores(h)
        _, lse = softmax(o)
        total += lse - o[y]                          # -log p[y]
    return total / (len(ids) - 1) / math.log(2)


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
    """The error for a run whose loss or weights blew up."""
    return UserError(f"training diverged at iteration {iteration} ({why}): "
                     f"--learning-rate {args.learning_rate:g} is too high; "
                     f"try {args.learning_rate / 10:g} or less (0.01-0.2 "
                     f"usually works); the last good checkpoint in "
                     f"{args.model} is kept")


def train(model, vocab, train_ids, val_ids, progress, args, save, sample):
    """Update the model until progress["iteration"] = args.max_iterations.

    progress holds iteration, position, h, smooth_loss and history, and is
    updated in place; save() writes a checkpoint; sample() returns text.
    Ctrl-C saves a checkpoint, then raises KeyboardInterrupt.
    """
    start_bits = math.log2(len(vocab))              # loss of a uniform guess
    start_time, start_iteration = time.monotonic(), progress["iteration"]
    chars, val_bits, stop = 0, None, []
    old_handler = signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    try:
        while progress["iteration"] < args.max_iterations:
            if stop:                                # Ctrl-C was pressed
                save()
                print(f"\ninterrupted at iteration {progress['iteration']}; "
                      f"saved {args.model}. Continue with:\n  "
                      f"{resume_command(args.argv)}", file=sys.stderr)
                raise KeyboardInterrupt

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
        signal.signal(signal.SIGINT, old_handler)


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


# --- looking inside: how far back the gradient reaches ----------------------

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
    print(f"note: training cut the gradient after {trained_steps} steps "
          f"(--sequence-length): past k = {trained_steps - 1} the model was "
          f"never trained to use it")
    print("   k   mean norm   ratio to k=0")
    for k, mean in enumerate(means):
        print(f"{k:>4}  {mean:>10.4g}  {mean / means[0]:>13.4g}")
    points = [(k, math.log10(mean)) for k, mean in enumerate(means) if mean]
    series = [("flow", "mean norm", "*", "#1f77b4", points)]
    print(text_chart(series, "norm (log)", "k, steps back",
                     lambda y: f"{10 ** y:.0e}"))
    write_atomically(svg_path, svg_chart(
        series, title, "k: steps back from the predicted character",
        "gradient norm (log scale)", lambda y: f"{10 ** y:.0e}"))
    print(f"chart: {svg_path}")


# --- looking inside: what single hidden units track --------------------------

def unit_color(value):
    """-1 blue ... 0 white ... +1 red, as a CSS color."""
    v = max(-1.0, min(1.0, value))
    fade = round(255 * (1 - abs(v)))
    return f"rgb(255,{fade},{fade})" if v > 0 else f"rgb({fade},{fade},255)"


def hidden_trace(model, ids):
    """Run ids from the zero state: h after each character, and the
    probabilities of the next character there."""
    state, hs, probs = model.zero_state(), [], []
    for x in ids:
        state = model.step(x, state)
        hs.append(hidden_of(state))
        probs.append(softmax(model.scores(state))[0])
    return hs, probs


def units_to_show(hs, given, count=8):
    """The units of --units (e.g. "3,17"), checked; else the `count` units
    whose value varies most (variance) over the text."""
    hidden = len(hs[0])
    if given is not None:
        try:
            units = [int(part) for part in given.split(",")]
        except ValueError:                           # not a number
            units = []
        if (not units or not all(0 <= u < hidden for u in units)
                or len(set(units)) != len(units)):
            raise UserError(f"--units must be distinct unit numbers from 0 "
                            f"to {hidden - 1}, comma-separated, got {given!r}")
        return units

    def variance(u):
        mean = sum(h[u] for h in hs) / len(hs)
        return sum((h[u] - mean) ** 2 for h in hs) / len(hs)
    return sorted(range(hidden), key=variance, reverse=True)[:count]


def activations_page(vocab, text, hs, probs, units, title):
    """A self-contained HTML page: a row per unit, the text coloured
    character by character by that unit's h after reading it; hovering
    shows the value and the top 3 guesses for the next character."""
    tips = []
    for p in probs:
        top = sorted(range(len(p)), key=lambda i: -p[i])[:3]
        tips.append("  ".join(f"{vocab[i]!r} {p[i]:.2f}" for i in top))
    parts = ["<!DOCTYPE html>", '<html><head><meta charset="utf-8">',
             f"<title>{html.escape(title)}</title>",
             "<style>body{font-family:sans-serif;margin:2em}"
             ".row{font-family:monospace;white-space:pre-wrap;"
             "line-height:1.7;border:1px solid #ccc;padding:.5em}"
             ".row span:hover{outline:1px solid black}"
             '.nl::before{content:"\\21B5";color:#888}</style>',
             f"</head><body><h1>{html.escape(title)}</h1>",
             "<p>Each row is one hidden unit: every character's background "
             "is the unit's value after reading it, "
             '<span style="background:rgb(0,0,255);color:white">-1</span> '
             "... 0 ... "
             '<span style="background:rgb(255,0,0);color:white">+1</span>. '
             "Hover a character for the value and the model's top 3 guesses "
             "for the next character.</p>"]
    for u in units:
        values = [h[u] for h in hs]
        parts.append(f"<h2>unit {u}: {min(values):+.2f} to "
                     f"{max(values):+.2f}</h2>")
        spans = []
        for ch, v, tip in zip(text, values, tips):
            kind = ' class="nl"' if ch == "\n" else ""
            hover = html.escape(f"unit {u}: {v:+.3f}\nnext: {tip}")
            spans.append(f'<span{kind} data-v="{v!r}" title="{hover}" '
                         f'style="background:{unit_color(v)}">'
                         f"{html.escape(ch)}</span>")
        parts.append(f'<div class="row" data-unit="{u}">{"".join(spans)}'
                     f"</div>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


# --- measuring: a counting baseline, interpolated Kneser-Ney n-grams --------
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


# --- measuring: the network against counting, and the two mixed -------------

def network_log_probs(model, ids):
    """ln p(ids[t] | ids[:t]) for t = 1..len(ids)-1, h starting at zero:
    the terms that evaluate() averages."""
    h, logs = model.zero_state(), []
    for x, y in zip(ids, ids[1:]):
        h = model.step(x, h)
        o = model.scores(h)
        _, lse = softmax(o)
        logs.append(o[y] - lse)                          # ln p[y]
    return logs


def mixture(net_logs, ngram_ps):
    """p = λ·p_network + (1 - λ)·p_ngram, λ in 0.01 ... 0.99 picked on the
    first half of the predictions. Returns λ and the bits/char on the
    second half of the mixture, the network alone and the n-gram alone."""
    half = len(net_logs) // 2
    net_ps = [math.exp(v) for v in net_logs]

    def mixed_bits(lam, part):
        return bits_of([lam * pn + (1.0 - lam) * pg
                        for pn, pg in zip(net_ps[part], ngram_ps[part])])

    first, second = slice(0, half), slice(half, None)
    lam = min((k / 100 for k in range(1, 100)),
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
    net_logs = network_log_probs(model, encode(text, vocab))
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


# --- measuring: --evaluate, a model's bits per character on a text file -----

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
    model, vocab, checkpoint = load_model(args.model)
    if not os.path.isfile(path):
        problem = "is a folder" if os.path.isdir(path) else "was not found"
        raise UserError(f"--evaluate file {path} {problem}")
    try:
        text = read_text(path)                       # UTF-8, 2 chars or more
    except UserError as e:                           # name the flag
        raise UserError(str(e).replace("data file", "--evaluate file", 1))
    ids = encode(text, vocab, f"--evaluate file {path}", args.model)
    logs = network_log_probs(model, ids)
    bits = -sum(logs) / len(logs) / math.log(2)
    print(f"{path}: {bits:#.4g} bits/char over {len(logs):,} predictions "
          f"({args.model}: {checkpoint['cell']}, hidden {len(model.V[0])})")
    texts, why = training_texts(args.model, checkpoint, vocab)
    if texts is None:
        print(f"notice: no n-gram comparison: {why}")
        return bits
    for line in counting_lines(model, vocab, *texts, text, "text"):
        print(line)
    return bits


# --- measuring: is a sample new text, or copied from the training text? -----

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


# --- measuring: --compare, several runs side by side ------------------------

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
# an (x, y) pair. Log-scale charts pass log10(y) and a label for the ticks.

def loss_series(history):
    """The loss chart: train (every log line) and validation curves."""
    return [("train", "train (smoothed)", "*", "#1f77b4", history["train"]),
            ("val", "validation", "o", "#d62728", history["val"])]


def chart_axes(series):
    """(x_ticks, y_ticks) covering every point: round numbers, first and
    last tick at the ends of the axis."""
    points = [point for *_, line in series for point in line]
    x_ticks = ticks(0, max(x for x, _ in points))
    y_ticks = ticks(min(y for _, y in points), max(y for _, y in points))
    return x_ticks, y_ticks


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
               y_label="{:.2f}".format, width=60, height=13):
    """The series as lines of text, each point drawn with its mark."""
    x_ticks, y_ticks = chart_axes(series)
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
              y_name="bits per character", y_label="{:g}".format):
    """The series as a standalone SVG document: axes, ticks, legend; a dot
    on every point of a series marked "o"."""
    width, height, left, right, top, bottom = 720, 420, 70, 150, 60, 50
    wider = 7 * max(0, max(len(s[1]) for s in series) - 16)  # long labels
    width, right = width + wider, right + wider
    x_ticks, y_ticks = chart_axes(series)
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
                       "top of the file.", allow_abbrev=False)
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
                   help="load --model and write activations.html beside it: "
                   "TEXT coloured by single hidden units")
    p.add_argument("--units", metavar="N[,N...]",
                   help="units for --activations (default: the 8 that vary "
                   "most over TEXT)")
    p.add_argument("--resume", action="store_true",
                   help="continue training --model where it stopped")
    p.add_argument("--evaluate", metavar="PATH",
                   help="load --model and print its bits per character on "
                   "the text file PATH, beside the counting baseline's")
    p.add_argument("--compare", metavar="MODEL", nargs="+",
                   help="print a table of these model files and write "
                   "compare.svg, their loss curves, beside the first")
    p.add_argument("--top-k", metavar="K", type=int, default=TOP_K,
                   help="sample only among the K likeliest characters, "
                   "after the temperature; 0 = all (default: %(default)s)")
    args = p.parse_args(argv)
    args.argv = list(argv)              # for the command that resumes
    check_args(args)
    return args


def check_args(args):
    """Refuse values that cannot work, naming the flag."""
    if args.cell not in CELLS:
        raise UserError(f"--cell must be one of {', '.join(CELLS)}, "
                        f"got {args.cell!r}")
    for flag, value in [("--hidden-size", args.hidden_size),
                        ("--sequence-length", args.sequence_length),
                        ("--max-iterations", args.max_iterations),
                        ("--sample-every", args.sample_every),
                        ("--log-every", args.log_every),
                        ("--flow-steps", args.flow_steps)]:
        if value < 1:
            raise UserError(f"{flag} must be at least 1, got {value}")
    if args.sample_length < 0:
        raise UserError(f"--sample-length must be 0 or more, "
                        f"got {args.sample_length}")
    if not (math.isfinite(args.learning_rate) and args.learning_rate > 0):
        raise UserError(f"--learning-rate must be a finite number > 0, "
                        f"got {args.learning_rate}")
    for value in args.temperature:
        if not (math.isfinite(value) and value >= 0):
            raise UserError(f"--temperature must be a finite number >= 0 "
                            f"(0 = greedy), got {value}")
    if args.top_k < 0:
        raise UserError(f"--top-k must be 0 (off) or more, got {args.top_k}")
    if not 0 <= args.validation_fraction < 1:
        raise UserError(f"--validation-fraction must be in [0, 1), "
                        f"got {args.validation_fraction}")
    for flag, text in [("--generate", args.generate),
                       ("--predict", args.predict),
                       ("--prime-text", args.prime_text),
                       ("--gradient-flow", args.gradient_flow),
                       ("--activations", args.activations),
                       ("--evaluate", args.evaluate),
                       ("PRIME_TEXT", PRIME_TEXT)]:
        if text == "":
            raise UserError(f"{flag} needs at least one character")


def resume(args, argv, vocab):
    """(model, progress) from --model, checked against the data and flags."""
    model, model_vocab, checkpoint = load_model(args.model)
    if model_vocab != vocab:
        new = show_chars(sorted(set(vocab) - set(model_vocab))) or "none"
        gone = show_chars(sorted(set(model_vocab) - set(vocab))) or "none"
        raise UserError(f"{args.data} and {args.model} have different "
                        f"characters (only in the data: {new}; only in the "
                        f"model: {gone}); resume with the data it was "
                        f"trained on, or train anew without --resume")
    hidden, cell = len(model.V[0]), checkpoint["cell"]
    for flag, given, has in [("--cell", args.cell, cell),
                             ("--hidden-size", args.hidden_size, hidden)]:
        if any(a.startswith(flag) for a in argv) and given != has:
            raise UserError(f"{flag} {given} does not match {args.model}, "
                            f"which has {has}; leave the flag out to use "
                            f"the file's")
    args.cell, args.hidden_size = cell, hidden
    if checkpoint["iteration"] >= args.max_iterations:
        raise UserError(f"{args.model} is already at iteration "
                        f"{checkpoint['iteration']}; raise --max-iterations "
                        f"to train further")
    keys = ("iteration", "position", "h", "smooth_loss", "history")
    return model, {key: checkpoint[key] for key in keys}


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


def run_training(args, argv, rng):
    """Train a new model, or continue one with --resume; then sample."""
    text = read_text(args.data)
    vocab = sorted(set(text))
    prime_ids = prime_for(args, text, vocab)        # fail before training
    check_writable(args.model)
    train_text, val_text = split_data(text, args.validation_fraction)
    if args.resume:
        model, progress = resume(args, argv, vocab)
    else:
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
              "validation_fraction": args.validation_fraction,
              "seed": args.seed, "vocab_size": len(vocab)}
    folder = os.path.dirname(args.model)
    write_atomically(os.path.join(folder, "vocab.json"),
                     json.dumps(vocab, ensure_ascii=False, indent=1) + "\n")
    write_atomically(os.path.join(folder, "config.json"),
                     json.dumps(config, indent=2) + "\n")

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
    print(f"expected loss at start: log2({len(vocab)}) = "
          f"{math.log2(len(vocab)):.2f} bits/char", flush=True)

    chart_path = os.path.join(folder, "loss.svg")
    title = (f"{args.data} ({len(text):,} chars): {args.cell}, hidden "
             f"{args.hidden_size}, sequence {args.sequence_length}, "
             f"learning rate {args.learning_rate}")

    def save():
        save_model(args.model, model, vocab, config, progress)
        write_atomically(chart_path,
                         svg_chart(loss_series(progress["history"]), title))

    def sample():
        return generate(model, vocab, prime_ids, args.sample_length,
                        args.temperature[0], rng, args.top_k)

    train(model, vocab, encode(train_text, vocab), encode(val_text, vocab),
          progress, args, save, sample)
    print(text_chart(loss_series(progress["history"])))
    print(f"saved {args.model}; loss chart: {chart_path}")
    if in_ipython() and "ipykernel" in sys.modules:   # Jupyter or Colab
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
    model, vocab, _ = load_model(args.model)
    prime_ids = encode(args.generate, vocab, "--generate text", args.model)
    for temperature in args.temperature:
        text = generate(model, vocab, prime_ids, args.sample_length,
                        temperature, rng, args.top_k)
        if len(args.temperature) > 1:
            print(f"--- temperature {temperature} ".ljust(79, "-"))
        print(text)


def load_to_look_inside(args, view):
    """(model, vocab, checkpoint, a chart title naming the file and view)."""
    model, vocab, checkpoint = load_model(args.model)
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
    """--activations: write activations.html, print each unit's range."""
    model, vocab, _, title = load_to_look_inside(args, "single units")
    text = args.activations
    hs, probs = hidden_trace(model, encode(text, vocab, "--activations text",
                                           args.model))
    units = units_to_show(hs, args.units)
    path = os.path.join(os.path.dirname(args.model), "activations.html")
    write_atomically(path, activations_page(vocab, text, hs, probs, units,
                                            title))
    print(f"wrote {path}")
    for u in units:
        values = [h[u] for h in hs]
        print(f"unit {u}: from {min(values):+.3f} to {max(values):+.3f}")


def in_ipython():
    """True in Jupyter, Colab or IPython: IPython is loaded and a shell is
    running (importing IPython elsewhere, as pytest may, is not enough)."""
    ipython = sys.modules.get("IPython")
    return getattr(ipython, "get_ipython", lambda: None)() is not None


def command_line():
    """sys.argv[1:], except in a notebook cell, where sys.argv is the
    kernel's own (-f kernel-....json). `%run rnn_from_scratch.py --flags`
    keeps its flags: there sys.argv[0] is this file."""
    script = globals().get("__file__")
    if in_ipython() and not (script and os.path.basename(sys.argv[0])
                             == os.path.basename(script)):
        return []
    return sys.argv[1:]


def resume_command(argv):
    """What to run to continue training with the same flags."""
    again = [a for a in argv if a != "--resume"] + ["--resume"]
    if in_ipython():
        return f"main({again!r})"
    return f"python {shlex.join([sys.argv[0]] + again)}"


def main(argv=None):
    """Run the command line (argv: a list of flags, default the command
    line's); returns the exit status."""
    argv = command_line() if argv is None else argv
    try:
        args = parse_args(argv)
        rng = random.Random(args.seed)
        if args.generate is not None:
            run_generate(args, rng)
        elif args.predict is not None:
            model, vocab, _ = load_model(args.model)
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
            run_training(args, argv, rng)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:             # piped into `head`, say: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except SystemExit as e:             # --help has printed the help
        return e.code or 0
    return 0


if __name__ == "__main__":
    status = main()
    if not in_ipython():                # no SystemExit in a notebook
        sys.exit(status)
