"""A character-level recurrent neural network in plain Python.

One file, standard library only. It learns to predict the next character
of a text, then writes new text. At each position t, x_t being the index
of the input character and y_t that of the next one:

    h_t = cell(x_t, h_{t-1})          hidden state: vanilla, GRU or LSTM
    p_t = softmax(V·h_t + c)          probabilities of the next character
    L   = Σ_t -log p_t[y_t]           the loss, summed over a chunk

The story, from here to the '# ===' line, is the whole lesson and runs on
its own: the constants; list math; the three cells, each a step_forward and
step_backward pair; the model (output layer, backpropagation through time
over a chunk, clipping, Adagrad or SGD, sampling); the data; the training loop;
train_and_sample(). Below the line are the tools: model files, --resume and
Ctrl-C; --check; looking inside; measuring; charts; main, the command line.

Run `python rnn_from_scratch.py` to train on data.txt and sample, with
--check to check every backward pass, --help for every flag. Pasted into a
notebook cell it runs the same; then call train_and_sample() or main([...]).
"""

import math
import os
import random
import time
import types
from operator import mul

# --- constants: edit these, or pass the matching --flag ----------------------

DATA_PATH = "data.txt"        # training text, UTF-8; 2 characters or more
MODEL_PATH = "model.json"     # checkpoint; files beside it take its name
CELL = "rnn"                  # rnn (vanilla), gru or lstm
HIDDEN_SIZE = 64              # hidden units; 16-256, time grows as hidden²
SEQUENCE_LENGTH = 25          # characters per chunk of backprop; 10-100
LEARNING_RATE = 0.05          # step size; 0.01-0.2, too high diverges
OPTIMIZER = "adagrad"         # adagrad (a step size per weight) or sgd
CLIP = 5.0                    # clip each gradient entry to ±CLIP; 0 = off
CLIP_NORM = 0.0               # scale the whole gradient to this L2 norm at
                              # most (Pascanu et al. 2013); 0 = off
MAX_ITERATIONS = 12000        # updates, one chunk each; --resume counts on
SAMPLE_EVERY = 2000           # validate, sample and save this often
SAMPLE_LENGTH = 300           # characters per sample; 0-10,000
PRIME_TEXT = "Once upon a time"  # fed in before sampling; chars of the data
TEMPERATURE = 0.5             # 1.0 = as learned, < 1.0 safer, > 1.0 wilder;
                              # 0 = greedy; several, comma-separated, as a flag
TOP_K = 0                     # draw among the K likeliest chars; 0 = all
VALIDATION_FRACTION = 0.1     # last part of the data held out; 0-0.5
LOG_EVERY = 100               # print a progress line this often
SEED = 42                     # same seed, same weights and samples
FLOW_STEPS = 50               # --gradient-flow looks this many steps back
NGRAM_ORDER = 8               # counting baseline: n-grams of orders 1 to this
NGRAM_MAX_CHARS = 2000000     # it counts at most this many training chars

SETTINGS = ("DATA_PATH", "MODEL_PATH", "CELL", "HIDDEN_SIZE",
            "SEQUENCE_LENGTH", "LEARNING_RATE", "OPTIMIZER", "CLIP",
            "CLIP_NORM", "MAX_ITERATIONS", "SAMPLE_EVERY", "SAMPLE_LENGTH",
            "PRIME_TEXT", "TEMPERATURE", "TOP_K", "VALIDATION_FRACTION",
            "LOG_EVERY", "SEED", "FLOW_STEPS", "NGRAM_ORDER",
            "NGRAM_MAX_CHARS")


def settings(**changes):
    """The constants above as one object, in lower case (s.hidden_size),
    with some changed: settings(cell="lstm", hidden_size=32)."""
    values = {name.lower(): globals()[name] for name in SETTINGS}
    values.update(changes)
    return types.SimpleNamespace(**values)


# --- list math ---------------------------------------------------------------
# A vector is a list of floats; a matrix is a list of rows.

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
    Entry (i, j) is the dot of a's i-th column with b's j-th column, so
    the loop over t runs in C."""
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


def sigmoid(x):
    """σ(x) = 1 / (1 + e^-x), computed as 0.5 + 0.5·tanh(x/2): the same
    number, but exp never overflows for a large |x|."""
    return 0.5 + 0.5 * math.tanh(0.5 * x)


def zeros_like(param):
    """0.0 everywhere, shaped like param (a vector or a matrix)."""
    if isinstance(param[0], list):
        return [[0.0] * len(row) for row in param]
    return [0.0] * len(param)


def gaussian_matrix(rows, cols, std, rng):
    """rows×cols matrix drawn from N(0, std²)."""
    return [[rng.gauss(0.0, std) for _ in range(cols)] for _ in range(rows)]


# --- the vanilla cell --------------------------------------------------------
# A cell turns the input character x and the state before it into the state
# after it, with U (G·hidden×vocab), W (G·hidden×hidden) and b (G·hidden):
# G blocks of `hidden` rows, one per gate, in PyTorch's order, held by the
# model (below) as self.U, self.W, self.b. Every cell has four methods:
#   zero_state()                     the state before the first character
#   hidden(state)                    the h of a state, for the output layer
#   step_forward(x, state)           -> (next state, cache for backward)
#   step_backward(dh_out, d_next, cache, WT) -> (da, dWh, d_prev)
# da is dL/d(U[:, x] + b), dWh is dL/d(W·h): the chunk loop turns them into
# dU, db and dW. d_next and d_prev are gradients shaped like the state.

class RNNCell:
    """The vanilla cell: one block (G = 1).

        h' = tanh(U[:, x] + W·h + b)
    """

    GATES = 1

    def zero_state(self):
        """h = 0 (hidden)."""
        return [0.0] * len(self.W[0])

    def hidden(self, state):
        """The state is h itself."""
        return state

    def initial_b(self, hidden_size):
        """b starts at 0 (G·hidden)."""
        return [0.0] * (self.GATES * hidden_size)

    def step_forward(self, x, h):
        """(h', cache) for input index x; h: hidden. The cache is h' itself,
        whose tanh' = 1 - h'² the backward step needs."""
        h_new = [math.tanh(U_row[x] + dot(W_row, h) + b_i)
                 for U_row, W_row, b_i in zip(self.U, self.W, self.b)]
        return h_new, h_new

    def step_backward(self, dh_out, dh_next, cache, WT):
        """One step back. dh_out = Vᵀ·dy and dh_next, both hidden: the parts
        of dL/dh' through this step's output and through step t+1. cache:
        h'. WT: hidden×hidden. Returns (dh_raw, dh_raw, dh_prev): dL/d(the
        tanh's input), as da and as dWh, and dL/dh, step t-1's dh_next."""
        h_new = cache
        dh = [d1 + d2 for d1, d2 in zip(dh_out, dh_next)]  # dh_out + dh_next
        dh_raw = [(1.0 - hi * hi) * d                # dh_raw = (1 - h'²) ⊙ dh
                  for hi, d in zip(h_new, dh)]
        dh_prev = matvec(WT, dh_raw)                 # dh_prev = Wᵀ·dh_raw
        return dh_raw, dh_raw, dh_prev


# --- the GRU cell ------------------------------------------------------------

class GRUCell(RNNCell):
    """Gated recurrent unit; blocks r, z, n as in PyTorch's nn.GRU (G = 3),
    and h as its state. With a = U[:, x] + b and Wh = W·h, 3·hidden each:

        r  = σ(a_r + Wh_r)                           reset gate
        z  = σ(a_z + Wh_z)                           update gate
        n  = tanh(a_n + r ⊙ Wh_n)                    candidate
        h' = (1 - z) ⊙ n + z ⊙ h                     new hidden state
    """

    GATES = 3

    def step_forward(self, x, h):
        """(h', cache) for input index x; h: hidden."""
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
        """One step back, as the vanilla cell's. cache: (h, r, z, n, Wh_n),
        Wh_n the n block of W·h. WT: hidden×(3·hidden). Returns (da, dWh,
        dh_prev): dL/da and dL/d(Wh), 3·hidden each, and dL/dh (hidden)."""
        h, r, z, n, Wh_n = cache
        dh = [d1 + d2 for d1, d2 in zip(dh_out, dh_next)]  # dh_out + dh_next
        dn_raw = [d * (1.0 - zi) * (1.0 - ni * ni)   # dn_raw = dh ⊙ (1 - z)
                  for d, zi, ni in zip(dh, z, n)]    #          ⊙ (1 - n²)
        dz_raw = [d * (hi - ni) * zi * (1.0 - zi)    # dz_raw = dh ⊙ (h - n)
                  for d, hi, ni, zi in zip(dh, h, n, z)]  #     ⊙ z ⊙ (1 - z)
        dr_raw = [d * wi * ri * (1.0 - ri)           # dr_raw = dn_raw ⊙ Wh_n
                  for d, wi, ri in zip(dn_raw, Wh_n, r)]  #     ⊙ r ⊙ (1 - r)
        da = dr_raw + dz_raw + dn_raw                # da: a adds to all three
        dWh = dr_raw + dz_raw + [d * ri              # dWh_n = dn_raw ⊙ r
                                 for d, ri in zip(dn_raw, r)]
        dh_prev = [d * zi + dot(W_col, dWh)          # dh_prev = z ⊙ dh
                   for d, zi, W_col in zip(dh, z, WT)]  #         + Wᵀ·dWh
        return da, dWh, dh_prev


# --- the LSTM cell -----------------------------------------------------------

class LSTMCell:
    """Long short-term memory; blocks i, f, g, o as in PyTorch's nn.LSTM
    (G = 4); its state is [h, s], s the cell state. With the 4·hidden
    pre-activation pre = U[:, x] + b + W·h, split into blocks:

        i  = σ(pre_i)                                input gate
        f  = σ(pre_f)                                forget gate
        g  = tanh(pre_g)                             candidate
        o  = σ(pre_o)                                output gate
        s' = f ⊙ s + i ⊙ g                           new cell state
        h' = o ⊙ tanh(s')                            new hidden state
    """

    GATES = 4

    def zero_state(self):
        """[h, s] = [0, 0], hidden each."""
        return [[0.0] * len(self.W[0]), [0.0] * len(self.W[0])]

    def hidden(self, state):
        """h of [h, s]."""
        return state[0]

    def initial_b(self, hidden_size):
        """b starts at 0 but for the forget gate's 1: f = σ(1) = 0.73, so
        the cell state and its gradient carry over from the first update."""
        return ([0.0] * hidden_size + [1.0] * hidden_size
                + [0.0] * (2 * hidden_size))

    def step_forward(self, x, state):
        """([h', s'], cache) for input index x; state: [h, s]."""
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
        return [h_new, s_new], (s, i, f, g, o, tanh_s)

    def step_backward(self, dh_out, d_next, cache, WT):
        """One step back. dh_out = Vᵀ·dy (hidden); d_next: [dh_next,
        ds_next] from step t+1. cache: (s, i, f, g, o, tanh_s), s the
        previous cell state, tanh_s = tanh(s'). WT: hidden×(4·hidden).
        Returns (dpre, dpre, [dh_prev, ds_prev]): dL/d(pre), 4·hidden, as
        da and as dWh (both add into pre), then step t-1's d_next."""
        s, i, f, g, o, tanh_s = cache
        dh_next, ds_next = d_next
        dh = [d1 + d2 for d1, d2 in zip(dh_out, dh_next)]  # dh_out + dh_next
        ds = [d_s + d * oi * (1.0 - ti * ti)         # ds = ds_next + dh ⊙ o
              for d_s, d, oi, ti in zip(ds_next, dh, o, tanh_s)]
        #                                              ⊙ (1 - tanh²(s'))
        di_raw = [d * gi * ii * (1.0 - ii)           # di_raw = ds ⊙ g
                  for d, gi, ii in zip(ds, g, i)]    #          ⊙ i ⊙ (1 - i)
        df_raw = [d * si * fi * (1.0 - fi)           # df_raw = ds ⊙ s
                  for d, si, fi in zip(ds, s, f)]    #          ⊙ f ⊙ (1 - f)
        dg_raw = [d * ii * (1.0 - gi * gi)           # dg_raw = ds ⊙ i
                  for d, ii, gi in zip(ds, i, g)]    #          ⊙ (1 - g²)
        do_raw = [d * ti * oi * (1.0 - oi)           # do_raw = dh ⊙ tanh(s')
                  for d, ti, oi in zip(dh, tanh_s, o)]  #       ⊙ o ⊙ (1 - o)
        dpre = di_raw + df_raw + dg_raw + do_raw     # dpre: all four blocks
        dh_prev = matvec(WT, dpre)                   # dh_prev = Wᵀ·dpre
        ds_prev = [d * fi for d, fi in zip(ds, f)]   # ds_prev = ds ⊙ f
        return dpre, dpre, [dh_prev, ds_prev]


# --- the model: output layer, backprop through time, updates, sampling -------

PARAM_NAMES = ("U", "W", "V", "b", "c")


class Model:
    """A cell's U, W and b (G blocks), and the output layer's V (vocab×
    hidden) and c (vocab): plain lists of floats, which you may edit. RNN,
    GRU and LSTM, below, each join a cell to this class."""

    def __init__(self, vocab_size, hidden_size, seed=None):
        rng = random.Random(seed)
        rows = self.GATES * hidden_size
        # std 1/sqrt(terms summed): U adds one column, W·h sums `hidden`
        # terms; V starts tiny, so the first guesses are uniform
        self.U = gaussian_matrix(rows, vocab_size, 1.0, rng)
        self.W = gaussian_matrix(rows, hidden_size, hidden_size ** -0.5, rng)
        self.V = gaussian_matrix(vocab_size, hidden_size, 0.01, rng)
        self.b = self.initial_b(hidden_size)
        self.c = [0.0] * vocab_size
        # Adagrad memory: running sum of squared gradients, one per weight
        self.memory = {name: zeros_like(getattr(self, name))
                       for name in PARAM_NAMES}

    def scores(self, state):
        """o = V·h + c: one score per vocabulary character."""
        h = self.hidden(state)
        return [dot(V_row, h) + c_i for V_row, c_i in zip(self.V, self.c)]

    def step(self, x, state):
        """The state after input index x."""
        return self.step_forward(x, state)[0]

    def loss_and_gradients(self, inputs, targets, state):
        """Forward and backward over one chunk of T = len(inputs) chars.
        Returns (loss: nats summed over the chunk, grads: {"U", ..., "c"}
        shaped like the parameters, exact and unclipped, the last state)."""
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
        d_next = self.zero_state()           # dL/d(state) from past the end
        for t in reversed(range(T)):                     # backward pass
            dy = list(ps[t])
            dy[targets[t]] -= 1.0                        # dL/do = p - onehot
            dh_out = [dot(V_col, dy) for V_col in VT]    # Vᵀ·dy, into h_t
            da, dWh, d_next = self.step_backward(        # through the cell
                dh_out, d_next, caches[t], WT)
            for i, d in enumerate(da):                   # dU[:, x_t] += da
                dU[i][inputs[t]] += d
            dys[t], das[t], dWhs[t] = dy, da, dWh

        h_prevs = [self.hidden(states[t - 1]) for t in range(T)]
        h_nows = [self.hidden(states[t]) for t in range(T)]
        grads = {"U": dU,
                 "W": outer_sum(dWhs, h_prevs),          # Σ dWh h_{t-1}ᵀ
                 "V": outer_sum(dys, h_nows),            # Σ dy h_tᵀ
                 "b": [sum(col) for col in zip(*das)],   # Σ da
                 "c": [sum(col) for col in zip(*dys)]}   # Σ dy
        return loss, grads, states[T - 1]

    def update(self, grads, s):
        """Clip the gradient: each entry to ±s.clip, then the whole to an L2
        norm of at most s.clip_norm (0 = off, each); then take a step of
        s.optimizer at s.learning_rate. grads itself is left as it was."""
        rows, clip, lr = {}, s.clip, s.learning_rate
        for name in PARAM_NAMES:                         # a vector: one row
            grad = [grads[name]] if name in ("b", "c") else grads[name]
            rows[name] = [[g if -clip <= g <= clip else math.copysign(clip, g)
                           for g in row] if clip else row for row in grad]
        if s.clip_norm:                                  # √(Σ g²), all of it
            norm = math.sqrt(sum(dot(row, row) for grad in rows.values()
                                 for row in grad))
            scale = s.clip_norm / norm if norm > s.clip_norm else 1.0
            rows = {name: [[g * scale for g in row] for row in grad]
                    for name, grad in rows.items()}
        for name, grad in rows.items():
            param, memory = getattr(self, name), self.memory[name]
            if name in ("b", "c"):
                param, memory = [param], [memory]
            for p_row, m_row, g_row in zip(param, memory, grad):
                if s.optimizer == "sgd":                 # p -= lr·g
                    p_row[:] = [p - lr * g for p, g in zip(p_row, g_row)]
                else:                                    # Adagrad:
                    m_row[:] = [m + g * g                # memory += g²
                                for m, g in zip(m_row, g_row)]
                    p_row[:] = [p - lr * g / math.sqrt(m + 1e-8)  # -= lr·g
                                for p, g, m in zip(p_row, g_row, m_row)]  # /√m

    def sample(self, state, first_index, length, temperature=1.0, rng=None,
               top_k=0):
        """Feed first_index (state: the state before it), then draw `length`
        characters, each fed back in; return their indices."""
        rng = rng or random.Random()
        x, drawn = first_index, []
        for _ in range(length):
            state = self.step(x, state)
            x = pick_next(self.scores(state), temperature, top_k, rng)
            drawn.append(x)
        return drawn


def pick_next(scores, temperature, top_k, rng):
    """Index of the next character from its scores: the highest if
    temperature is 0 (greedy), else drawn from softmax(scores/temperature),
    only among the top_k highest scores if top_k > 0."""
    if temperature == 0:
        return max(range(len(scores)), key=scores.__getitem__)
    choices, top = range(len(scores)), max(scores)   # top: o/T can't overflow
    if top_k:           # in index order: if it cuts nothing, as top_k = 0
        keep = set(sorted(choices, key=lambda i: -scores[i])[:top_k])
        choices = [i for i in choices if i in keep]
    probs, _ = softmax([(scores[i] - top) / temperature for i in choices])
    return rng.choices(choices, weights=probs)[0]


class RNN(RNNCell, Model):
    """The vanilla RNN: the vanilla cell with the model around it."""


class GRU(GRUCell, Model):
    """The GRU cell with the model around it."""


class LSTM(LSTMCell, Model):
    """The LSTM cell with the model around it."""


CELLS = {"rnn": RNN, "gru": GRU, "lstm": LSTM}


# --- the data: text, vocabulary, the split -----------------------------------

class UserError(Exception):
    """A mistake in the user's input: main() prints it as one line,
    'error: ...', and exits with status 2."""


def read_text(path, what="data file"):
    """The text of a UTF-8 file of 2 characters or more, \\r\\n made \\n."""
    if not os.path.isfile(path):
        problem = "is a folder" if os.path.isdir(path) else "was not found"
        raise UserError(f"{what} {path} {problem}")
    try:
        with open(path, "rb") as f:
            raw = f.read()
        text = raw.decode("utf-8")
    except OSError as e:
        raise UserError(f"cannot read {what} {path}: {e.strerror}")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise UserError(f"{path} is not valid UTF-8: byte 0x{raw[e.start]:02x}"
                        f" on line {line}; save the file as UTF-8")
    text = text.lstrip("\ufeff").replace("\r\n", "\n")
    if len(text) < 2:
        size = "is empty" if not text else "has only 1 character"
        raise UserError(f"{what} {path} {size}; it needs at least 2 "
                        f"characters (an input and the next one to predict)")
    return text


def encode(text, vocab, what="the text", source="the vocabulary"):
    """Indices of text's characters in vocab. An unknown character is an
    error naming it; `what` names the text and `source` the vocab's file."""
    index = {ch: i for i, ch in enumerate(vocab)}
    unknown = sorted(set(text) - set(index))
    if unknown:
        raise UserError(f"{what} has characters that are not in {source}: "
                        + " ".join(map(repr, unknown[:12]))
                        + (" ..." if len(unknown) > 12 else ""))
    return [index[ch] for ch in text]


def split_data(text, fraction):
    """(training text, validation text): the last `fraction`, or ""."""
    n_val = int(len(text) * fraction)
    if n_val < 2 or len(text) - n_val < 2:
        return text, ""
    return text[:-n_val], text[-n_val:]


# --- training ----------------------------------------------------------------

class Run:
    """Where training stands: updates and seconds so far, where the next chunk
    starts, the state carried over, the smoothed loss and the history."""

    def __init__(self, model, vocab_size):
        start = math.log2(vocab_size)                # a uniform guess
        self.iteration, self.position, self.seconds = 0, 0, 0.0
        self.state, self.smooth_loss = model.zero_state(), start
        self.history = {"train": [[0, start]], "val": []}


def log_probs(model, ids, state=None):
    """ln p(ids[t] | ids[:t]) for t = 1..len(ids)-1, from state or zero."""
    state, logs = state or model.zero_state(), []
    for x, y in zip(ids, ids[1:]):
        state = model.step(x, state)
        o = model.scores(state)
        logs.append(o[y] - softmax(o)[1])                # ln p[y]
    return logs


def evaluate(model, ids):
    """Average loss in bits per character of predicting ids[1:] from ids."""
    return -sum(log_probs(model, ids)) / (len(ids) - 1) / math.log(2)


def generate(model, vocab, prime_ids, length, temperature, rng, top_k=0):
    """The prime's text, fed in one character at a time to set the state,
    and `length` characters sampled after it."""
    state = model.zero_state()
    for x in prime_ids[:-1]:
        state = model.step(x, state)
    drawn = model.sample(state, prime_ids[-1], length, temperature, rng,
                         top_k)
    return "".join(vocab[i] for i in prime_ids + drawn)


def print_sample(title, text):
    """Print text framed by rules of dashes."""
    print(f"--- {title} ".ljust(79, "-"))
    print(text)
    print("-" * 79, flush=True)


def clock(seconds):
    """Seconds as m:ss."""
    return "%d:%02d" % divmod(int(seconds), 60)


def train(model, train_ids, val_ids, run, s, sample, after_update=None):
    """Update the model until run.iteration is s.max_iterations, a chunk of
    s.sequence_length characters each; print progress every s.log_every,
    and validate and print sample() every s.sample_every. The tools pass
    after_update(at_checkpoint, the sample or None), run after each update,
    to save or stop."""
    start_bits, val_bits = run.history["train"][0][1], None
    start_time, chars, start_seconds = time.monotonic(), 0, run.seconds
    last = (start_time, run.iteration)        # time of the last progress line
    while run.iteration < s.max_iterations:
        # the next chunk; at the end of the text, wrap and reset h
        if run.position + 1 >= len(train_ids):
            run.position, run.state = 0, model.zero_state()
        end = min(run.position + s.sequence_length, len(train_ids) - 1)
        inputs = train_ids[run.position:end]
        targets = train_ids[run.position + 1:end + 1]

        loss, grads, state = model.loss_and_gradients(inputs, targets,
                                                      run.state)
        bits = loss / len(inputs) / math.log(2)
        iteration = run.iteration + 1
        if not math.isfinite(bits) or bits > 3 * start_bits:  # 3x a guess
            raise diverged(iteration, f"loss {bits:.3g} bits/char", s)
        model.update(grads, s)
        chars += len(inputs)
        run.iteration, run.position, run.state = iteration, end, state
        run.seconds = start_seconds + time.monotonic() - start_time
        run.smooth_loss = 0.99 * run.smooth_loss + 0.01 * bits

        at_checkpoint = (iteration % s.sample_every == 0
                         or iteration == s.max_iterations)
        if at_checkpoint and val_ids:
            val_bits = evaluate(model, val_ids)
            if not val_bits <= 3 * start_bits:       # NaN fails it too
                raise diverged(iteration, f"validation {val_bits:.3g} "
                               f"bits/char", s)
            run.history["val"].append([iteration, val_bits])
        if at_checkpoint or iteration % s.log_every == 0:
            run.history["train"].append([iteration, run.smooth_loss])
            now = time.monotonic()                   # time left at the rate
            left = ((now - last[0]) / (iteration - last[1])  # since the last
                    * (s.max_iterations - iteration))        # progress line
            elapsed, last = now - start_time, (now, iteration)
            val = "-" if val_bits is None else f"{val_bits:.2f}"
            print(f"iter {iteration}/{s.max_iterations} | train "
                  f"{run.smooth_loss:.2f} bits/char | val {val} | "
                  f"{chars / elapsed:,.0f} chars/s | {clock(elapsed)} "
                  f"elapsed, {clock(left)} left", flush=True)
        sampled = None
        if at_checkpoint:
            rows = model.U + model.W + model.V + [model.b, model.c]
            if not all(math.isfinite(w) for row in rows for w in row):
                raise diverged(iteration, "a weight is NaN or infinite", s)
            if s.sample_length:
                sampled = sample()
                print_sample(f"sample at iteration {iteration}", sampled)
        if after_update:
            after_update(at_checkpoint, sampled)


def diverged(iteration, why, s):
    """The error for a run whose loss or weights blew up."""
    return UserError(f"training diverged at iteration {iteration} ({why}): "
                     f"the learning rate {s.learning_rate:g} is too high; "
                     f"try {s.learning_rate / 10:g} or less")


def train_and_sample(s=None, model=None, run=None, after_update=None):
    """Train on s.data_path with the settings s (default: the constants),
    printing progress and samples; return the model. The tools may pass a
    model and its Run to go on with, and after_update (see train)."""
    s = s or settings()
    rng = random.Random(s.seed)
    text = read_text(s.data_path)
    vocab = sorted(set(text))
    train_text, val_text = split_data(text, s.validation_fraction)
    prime_ids = encode(s.prime_text, vocab, "PRIME_TEXT", s.data_path)
    if model is None:
        model = CELLS[s.cell](len(vocab), s.hidden_size, s.seed)
        run = Run(model, len(vocab))
    weights = sum(len(row) for row in model.U + model.W + model.V
                  + [model.b, model.c])
    print(f"data: {s.data_path}, {len(text):,} characters, {len(vocab)} "
          f"distinct ({len(train_text):,} to train on, {len(val_text):,} "
          f"to validate)")
    if not val_text:
        print("notice: no validation split (the data or "
              "VALIDATION_FRACTION is too small); skipping validation")
    print(f"model: {s.cell}, hidden {s.hidden_size}, {weights:,} weights; "
          f"training {s.max_iterations:,} iterations of "
          f"{s.sequence_length} characters, learning rate "
          f"{s.learning_rate} ({s.optimizer}, clip {s.clip:g}, clip norm "
          f"{s.clip_norm:g}), sample every {s.sample_every}")
    train_ids, val_ids = encode(train_text, vocab), encode(val_text, vocab)
    if run.iteration == 0:                           # measured, and expected
        n = len(vocab)
        val = f"{evaluate(model, val_ids):.2f}" if val_ids else "-"
        print(f"before training: val {val} bits/char ({math.log2(n):.2f} "
              f"expected: log2({n}); {math.log(n):.2f} nats = ln({n}))",
              flush=True)

    def sample():
        return generate(model, vocab, prime_ids, s.sample_length,
                        s.temperature, rng, s.top_k)

    train(model, train_ids, val_ids, run, s, sample, after_update)
    return model


# =============================================================================
# The tools. The story above is the whole lesson; below, what makes it a
# program: model files, --check, looking inside, measuring, charts and the
# command line (main, at the end). The story uses nothing from down here.

import argparse
import ast
import builtins
import contextlib
import csv
import difflib
import dis
import html
import importlib.util
import io
import json
import linecache
import marshal
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import traceback
import unicodedata
from collections import Counter


# --- model files: JSON checkpoints -------------------------------------------

def write_atomically(path, text):
    """Write a new temp file, fsync it and os.replace it over path, so a
    crash mid-save leaves the old file whole; 0666 less the umask."""
    temp = f"{path}.{os.urandom(4).hex()}.tmp"       # O_EXCL: never one that
    try:                                             # was planted there
        with open(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666),
                  "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror}")
    finally:                                        # no temp file left
        with contextlib.suppress(OSError):
            os.remove(temp)


def check_writable(path):
    """Fail now, not after an hour of training, if path can't be written."""
    if os.path.isdir(path):
        raise UserError(f"--model {path} is a folder; give a file name")
    folder = os.path.dirname(os.path.abspath(path))
    try:
        open(path + ".tmp", "w").close()            # write_atomically's temp
        os.remove(path + ".tmp")
    except OSError as e:
        why = (e.strerror if os.path.isdir(folder) else
               f"{folder} is a file, not a folder" if os.path.exists(folder)
               else f"folder {folder} does not exist")
        raise UserError(f"--model {path} cannot be written: {why}")


def cell_name(model):
    """"rnn", "gru" or "lstm"."""
    return type(model).__name__.lower()


def checkpoint_of(model, vocab, config, run):
    """What a model file holds, as a dict for JSON."""
    return {"format": "rnn_from_scratch model 1", "cell": cell_name(model),
            "vocab": vocab, "config": config,
            "params": {name: getattr(model, name) for name in PARAM_NAMES},
            "memory": model.memory, "iteration": run.iteration,
            "position": run.position, "h": run.state,
            "smooth_loss": run.smooth_loss, "history": run.history,
            "seconds": run.seconds}


def read_json(path):
    """The JSON object in a model file: only JSON is parsed, so nothing in it
    can run (conform refuses NaN); a problem is a UserError naming it."""
    old = old_model_path(path)
    if not os.path.isfile(path):
        raise UserError(
            f"model file {path} is a folder; pass --model FILE"
            if os.path.isdir(path) else
            f"model file {path} was not found, but {old} holds the model an "
            f"earlier run put aside: pass --model {old}, or rename it to "
            f"{path}" if os.path.isfile(old) else
            f"model file {path} was not found; train one first with: "
            f"{command_for(['--model', path])}")
    try:
        with open(path, "rb") as f:
            raw = f.read()
        if raw[:1] == b"\x80":
            raise UserError(f"{path} is a pickle file; this script never "
                            f"loads pickles (loading one can run any code): "
                            f"retrain to get a JSON model")
        checkpoint = json.loads(raw)
    except OSError as e:
        raise UserError(f"cannot read model file {path}: {e.strerror}")
    except json.JSONDecodeError as e:
        raise UserError(f"{path} is not valid JSON ({e.msg} at line "
                        f"{e.lineno} column {e.colno}); it may be truncated: "
                        f"retrain or restore a copy")
    except (ValueError, RecursionError) as e:    # not UTF-8, or too deep
        raise UserError(f"{path} is not a usable model file: {e}")
    return checkpoint if isinstance(checkpoint, dict) else {}


def load_model(path):
    """(model, vocab, run, checkpoint) from a model file: the cell, vocab
    and V give the shapes; conform holds the rest to what such a model has."""
    ck = read_json(path)

    def bad(why):
        return UserError(f"{path} is not a usable model file: {why}")

    vocab, cell = ck.get("vocab"), ck.setdefault("cell", "rnn")  # pre-GRU
    if not (isinstance(vocab, list) and vocab and all(
            isinstance(ch, str) and len(ch) == 1 for ch in vocab)
            and len(set(vocab)) == len(vocab)):
        raise bad("'vocab' must be a list of distinct single characters")
    if cell not in list(CELLS):
        raise bad(f"'cell' must be one of {', '.join(CELLS)}, got {cell!r}")
    params = ck["params"] if isinstance(ck.get("params"), dict) else {}
    V = params.get("V") if set(PARAM_NAMES) <= set(params) else None
    if not (isinstance(V, list) and V and isinstance(V[0], list) and V[0]):
        raise bad("'params' must hold U, W, V, b and c, V a list of rows")
    model = CELLS[cell](len(vocab), len(V[0]))   # V's rows: the hidden size
    run = Run(model, len(vocab))
    like = checkpoint_of(model, vocab, {}, run)
    like["history"] = {key: [[0, 0.0], ...] for key in ("train", "val")}
    ck = conform(ck, like, "", bad)
    for name in PARAM_NAMES:
        setattr(model, name, ck["params"][name])
        model.memory[name] = ck["memory"][name]
    for key in ("iteration", "position", "smooth_loss", "history", "seconds"):
        setattr(run, key, ck[key])
    run.state = ck["h"]
    return model, vocab, run, ck


def conform(value, like, name, bad, shape=None):
    """value checked against the template like and given its types: a dict
    (like's keys; a missing one takes like's), a list (like's shape; [x, ...]:
    any number of x), a finite float, an int >= 0, or like's type."""
    if isinstance(like, dict):
        if not isinstance(value, dict):
            raise bad(f"'{name}' must be an object")
        prefix = "" if name in ("", "params") else name + " "   # memory W
        return {**value, **{key: conform(value.get(key, part), part,
                                         prefix + key, bad)
                            for key, part in like.items()}}
    if isinstance(like, list) and like[1:] == [...]:     # [x, ...]
        shape = "×".join(["n"] + [str(n) for n in dims(like[0])])
        like = like[:1] * (len(value) if isinstance(value, list) else 0)
    if isinstance(like, list):
        shape = shape or "×".join(str(n) for n in dims(like))    # "8×8"
        if not isinstance(value, list) or len(value) != len(like):
            raise bad(f"{name} should be {shape}")
        return [conform(v, part, name, bad, shape)
                for v, part in zip(value, like)]
    if isinstance(like, float):
        if type(value) not in (int, float) or not math.isfinite(value):
            raise bad(f"{name} holds {value!r}, not a finite number")
        return float(value)
    if isinstance(like, int) and (type(value) is not int or value < 0):
        raise bad(f"'{name}' must be a whole number >= 0")
    if type(value) is not type(like):
        raise bad(f"'{name}' must be a {type(like).__name__}")
    return value


def beside(model_path, name):
    """A file written beside a model, named after it: gru.json's loss.svg is
    gru.loss.svg; model.json's keeps the plain name, loss.svg."""
    folder, stem = os.path.split(os.path.splitext(model_path)[0])
    return os.path.join(folder, name if stem == "model" else stem + "." + name)


def trained_length(checkpoint):
    """The sequence length a model file's config gives, or SEQUENCE_LENGTH."""
    length = checkpoint["config"].get("sequence_length")
    return length if type(length) is int and length >= 1 else SEQUENCE_LENGTH


def old_model_path(path):
    """NAME.old.EXT: where a new run keeps the model file it replaces."""
    root, ext = os.path.splitext(path)
    return root + ".old" + ext


# --- checking the backward pass: --check -------------------------------------
# A self-test that needs no data and no tests folder, for a student who edits
# a cell. On each cell's small fixed problem (CHECK_SIZES, a non-zero start
# state), every gradient entry is held against a central difference of the
# loss, and the loss against the value recorded below, which catches a
# forward and a backward pass changed the same wrong way.

CHECK_SIZES = {"vocab": 5, "hidden": 4, "length": 6, "seed": 1}
# The loss, in nats, of each cell's fixed problem. If you change a cell on
# purpose and its gradients pass, put here the value that --check prints.
CHECK_LOSS = {"rnn": 12.654012708542197, "gru": 11.39866122936499,
              "lstm": 11.068557403186714}
# An entry passes when |backprop - numeric| / max(|backprop|, |numeric|,
# 1e-4) <= 1e-6. The 4th-order central difference errs by 4e-12 at most, so
# a right entry passes by far; a wrong line is off by a percent or more. An
# entry below 1e-4 is measured against 1e-4: the relative error of a number
# near zero is round-off, not a bug. The loss must match to 1e-12.
CHECK_TOLERANCE, CHECK_FLOOR = 1e-6, 1e-4
BLOCKS = {"rnn": "", "gru": "rzn", "lstm": "ifgo"}   # PyTorch's block order


def rows_of(param):
    """A matrix's rows, or a vector as one row."""
    return param if isinstance(param[0], list) else [param]


def random_problem(name, vocab, hidden, length, rng, scale=1.0):
    """(model, inputs, targets, state): every weight from U(-scale, scale),
    a random chunk, and a non-zero start state (|h| < 0.9, |s| < 1.5)."""
    model = CELLS[name](vocab, hidden, seed=0)
    for p in PARAM_NAMES:                            # every weight and bias
        for row in rows_of(getattr(model, p)):
            row[:] = [scale * rng.uniform(-1.0, 1.0) for _ in row]
    ids = [rng.randrange(vocab) for _ in range(length + 1)]
    state = model.zero_state()                       # h, and an LSTM's s
    for row, edge in zip(rows_of(state), (0.9, 1.5)):
        row[:] = [rng.uniform(-edge, edge) for _ in row]
    return model, ids[:-1], ids[1:], state


def relative_error(a, b):
    """|a - b| / max(|a|, |b|, CHECK_FLOOR): see CHECK_TOLERANCE."""
    return abs(a - b) / max(abs(a), abs(b), CHECK_FLOOR)


def cell_class(name):
    """The cell a model class joins: "lstm" -> LSTMCell."""
    return CELLS[name].__bases__[0]


def central_difference(loss, row, j, step=1e-3):
    """dL/d row[j], 4th order: (8(L(+s) - L(-s)) - (L(+2s) - L(-2s))) / 12s,
    where loss() recomputes L with row[j] as it is at the time."""
    saved, f = row[j], {}
    for k in (-2, -1, 1, 2):
        row[j] = saved + k * step
        f[k] = loss()
    row[j] = saved
    return (8 * (f[1] - f[-1]) - (f[2] - f[-2])) / (12 * step)


def gradient_errors(model, inputs, targets, state):
    """{parameter: (worst relative error, where: (row, column) or (entry,),
    backprop, central difference there, [the worst in each gate block])}."""
    zero, cache = model.zero_state(), model.step_forward(inputs[0], state)[1]
    got = [dims(out) for out in model.step_backward(
        [0.0] * len(model.W[0]), zero, cache, transpose(model.W))]
    want = [[len(model.b)], [len(model.b)], dims(zero)]
    if got != want:                      # before zip quietly cuts them
        got, want = (", ".join("×".join(map(str, d)) or "a number"
                               for d in shapes) for shapes in (got, want))
        raise UserError(f"step_backward returns outputs of {got}; they "
                        f"should be {want} (da, dWh, the state's gradient):"
                        f" is a matrix the wrong way round, W for Wᵀ?")
    _, grads, _ = model.loss_and_gradients(inputs, targets, state)

    def loss():                          # the chunk loop's forward alone
        return -sum(log_probs(model, inputs + targets[-1:], state))

    errors, hidden = {}, len(model.V[0])
    for p in PARAM_NAMES:
        param, grad = rows_of(getattr(model, p)), rows_of(grads[p])
        if [len(row) for row in grad] != [len(row) for row in param]:
            raise UserError(f"d{p} should have the shape of {p}")
        worst, blocks = (0.0, None, 0.0, 0.0), [0.0] * model.GATES
        for r, (row, grad_row) in enumerate(zip(param, grad)):
            for j, backprop in enumerate(grad_row):
                numeric = central_difference(loss, row, j)
                error = relative_error(backprop, numeric)
                if p in "UWb":                       # rows of gate blocks
                    k = (r if p in "UW" else j) // hidden
                    blocks[k] = max(blocks[k], error)
                if error > worst[0]:
                    worst = (error, (r, j) if p in "UWV" else (j,),
                             backprop, numeric)
        errors[p] = worst + (blocks,)
    return errors


def dims(value):
    """The shape of nested lists: [[1, 2, 3], [4, 5, 6]] -> [2, 3]."""
    if isinstance(value, str) or not hasattr(value, "__len__") or not value:
        return []
    return [len(value)] + dims(value[0])


def check_cell(name, table=True):
    """(failures as lines, the worst relative error) of one cell; with
    table, print each parameter's row and check the loss too."""
    model, inputs, targets, state = random_problem(name, *(
        CHECK_SIZES[k] for k in ("vocab", "hidden", "length")),
        random.Random(CHECK_SIZES["seed"]))           # the fixed problem
    failures, errors = [], gradient_errors(model, inputs, targets, state)
    for p, (worst, at, backprop, numeric, blocks) in errors.items():
        shape = "×".join(map(str, dims(getattr(model, p))))
        verdict = "ok" if worst <= CHECK_TOLERANCE else "FAIL"
        if table:
            print(f"{name if p == 'U' else '':<5} {p:<9} {shape:<7} "
                  f"{worst:.1e}  {verdict}")
        if verdict == "FAIL":                # the gate: by block, below
            failures.append(f"FAIL {name} {p}: relative error {worst:.1e} "
                            f"at {p}{''.join(f'[{i}]' for i in at)}: backprop"
                            f" {backprop:.6g}, central difference "
                            f"{numeric:.6g}")
    if failures:                             # where: one step, or between?
        one = gradient_errors(model, inputs[:1], targets[:1], state)
        within = any(e[0] > CHECK_TOLERANCE for e in one.values())
        failures.append(
            f"hint: the {name} fails on a 1-character chunk too, so the "
            f"error is within one step" if within else
            f"hint: on a 1-character chunk every {name} gradient passes, so "
            f"the error is in what goes back to the previous step (dh_next, "
            f"dh_prev{', ds_next, ds_prev' if name == 'lstm' else ''})")
        for p in "UWb" if BLOCKS[name] else "":      # which gates fail
            failures.append(f"  {p} by block{' (1 character)' * within}: "
                            + "  ".join(f"{gate} {e:.1e} " + (
                                "ok" if e <= CHECK_TOLERANCE else "FAIL")
                                for gate, e in zip(BLOCKS[name], (
                                    one if within else errors)[p][4])))
    if table:                                # the loss against CHECK_LOSS
        loss = model.loss_and_gradients(inputs, targets, state)[0]
        recorded = CHECK_LOSS[name]
        ok = abs(loss - recorded) <= 1e-12 * max(1.0, abs(recorded))
        print(f"{'':<5} {'forward':<9} loss {loss!r}, recorded {recorded!r}"
              f"  {'ok' if ok else 'FAIL'}")
        failures += [] if ok else [
            f"FAIL {name} forward: the loss is {loss!r} nats, not the "
            f"recorded {recorded!r}; if you changed the {name} cell on "
            f"purpose and its gradients pass, set CHECK_LOSS[{name!r}] = "
            f"{loss!r} in the file"]
    return failures, max(e[0] for e in errors.values())


def check_one(name, table=True):
    """check_cell; an exception is a FAIL line naming the cell's line."""
    try:
        return check_cell(name, table)
    except UserError as e:                           # a wrong shape
        return [f"FAIL {name}: {e}"], math.inf
    except Exception as e:
        tb = traceback.extract_tb(e.__traceback__)
        own = [f for f in tb if f.name in ("step_forward", "step_backward")]
        f = (own or tb)[-1]
        return [f"FAIL {name}: {type(e).__name__}: {e} (line {f.lineno}, in "
                f"{f.name}: {f.line})" + ("" if own else "; check the shapes "
                "that step_forward and step_backward return")], math.inf


def run_check(names, ignored=()):
    """--check: 0 if each named cell passes, else 1; ignored: flags unused."""
    start, failures, failed = time.monotonic(), [], []
    if ignored:
        print(f"notice: --check uses its own fixed problem and ignores "
              f"{', '.join(ignored)}")
    print("--check: each cell on a fixed problem (vocab {vocab}, hidden "
          "{hidden}, {length} characters,\na non-zero start state). Every "
          "gradient entry from backprop against a central\ndifference: the "
          "worst relative error, which passes at <= {tolerance:g} (2 means\n"
          "opposite signs); then the loss against the value recorded in "
          "CHECK_LOSS.\n\ncell  parameter shape   worst relative error"
          .format(**CHECK_SIZES, tolerance=CHECK_TOLERANCE))
    for name in names:
        lines, _ = check_one(name)
        if lines and not lines[0].startswith(f"FAIL {name} "):
            print(f"{name:<5} stopped: see below")   # raised before a row
        failures += lines
        failed += [name] if lines else []
    print("\n".join(failures))
    print(f"check failed: {', '.join(failed)}" if failed else
          f"all passed: {', '.join(names)}",
          f"({time.monotonic() - start:.1f} s)")
    return 1 if failed else 0


def check_before_training(name):
    """Check the gradients (not the loss: a student may change it)."""
    start = time.monotonic()
    failures, worst = check_one(name, table=False)
    if failures:
        print("\n".join(failures))
        raise UserError(f"the {name} backward pass fails the gradient check "
                        f"(above): training would follow wrong gradients; "
                        f"run --check --cell {name}, mend step_backward, "
                        f"then train")
    print(f"check: the {name} gradients match central differences (worst "
          f"relative error {worst:.1e}, {time.monotonic() - start:.1f} s)")


def blanked(text, names):
    """text with each named cell's step_backward body, not its docstring,
    replaced by raise NotImplementedError; every other byte kept."""
    lines, cells = text.split("\n"), {cell_class(n).__name__ for n in names}
    for node in reversed([node for klass in ast.parse(text).body
                          if getattr(klass, "name", "") in cells
                          for node in klass.body
                          if getattr(node, "name", "") == "step_backward"]):
        lines[node.body[0].end_lineno:node.end_lineno] = [   # last first
            "        # Your code here, from the docstring's shapes. Check "
            "it with", "        # --check; grading takes this function "
            "alone, so keep any", "        # helper inside it.",
            '        raise NotImplementedError("your code here")']
    return "\n".join(lines)


def this_file(flag):
    """This file's path and text, which flag needs."""
    path = globals().get("__file__")
    if not path or not os.path.isfile(path):
        raise UserError(f"{flag} reads this file, which has no path here (a "
                        f"notebook cell or a browser tab): run python "
                        f"rnn_from_scratch.py {flag} ... where it is on disk")
    with open(path, encoding="utf-8", newline="") as f:
        return path, f.read()


def run_exercise(cmd):
    """--exercise CELL: write this file beside itself as a handout, with
    that cell's step_backward blank."""
    name = cmd.args.exercise.lower()
    if name not in CELLS:
        raise UserError(f"--exercise must be one of rnn, gru, lstm, got "
                        f"{cmd.args.exercise!r}")
    path, text = this_file("--exercise")
    root, ext = os.path.splitext(path)
    out = f"{root}_{name}_exercise{ext}"
    if os.path.exists(out):
        raise UserError(f"{out} exists; --exercise never overwrites a file: "
                        f"move it away first")
    write_atomically(out, blanked(text, [name]))
    print(f"wrote {out}: {cell_class(name).__name__}.step_backward is blank "
          f"for the student to write; --check there fails for the {name} "
          f"until it is right")
    return 0


# --- grading a class: --grade CELL FILE... -----------------------------------
# A submission cannot judge itself. The instructor's copy runs each file's
# step_backward alone in a fresh Python, in this file's code with every
# step_backward blank (the child never holds the answer), and judges here.

GRADE_SECONDS = 10           # a submission's time limit, for all problems
GRADE_EXACT = 1e-11          # a PASS above this is REVIEW: honest code in
                             # any order stays below (9e-12), numerical
                             # differentiation above (2e-11 at best)
ALLOWED = set("dot matvec transpose outer_sum softmax sigmoid zeros_like mul "
              "math print isinstance abs all any bool divmod enumerate float "
              "int len list map max min pow range reversed round sorted sum "
              "str tuple zip step_backward".split()) | {n for n, v in vars(
                  builtins).items() if isinstance(v, type) and issubclass(
                  v, BaseException)}    # a clean PASS names nothing else
ATTRIBUTES = set("U W b GATES zero_state hidden append extend insert pop "
                 "index count copy reverse sort clear remove".split()) | {
                     n for n in dir(math) if "__" not in n}  # self.U, math.exp
GLOBAL_OPS = {"LOAD_GLOBAL", "STORE_GLOBAL", "DELETE_GLOBAL", "LOAD_NAME",
              "DELETE_NAME", "LOAD_FROM_DICT_OR_GLOBALS"}
CHILD = ("import marshal, sys\ncode, job = marshal.loads(sys.stdin.buffer."
         "read())\nspace = {'__name__': 'grading'}\nexec(code, space)\n"
         "space['grade_child'](job)\n")          # the child's whole program


def grade_job(name, rng, count=3):
    """count problems for a cell, then count stiff ones (weights ×3, where
    numerical differentiation falls short), each step's inputs, as JSON."""
    problems = []
    for k in range(2 * count):
        hidden = rng.randint(2, 5)
        model, inputs, targets, state = random_problem(
            name, rng.randint(3, 6), hidden, 5, rng, 1.0 + 2.0 * (k >= count))
        h, steps = state, []
        for x in inputs:
            h, cache = model.step_forward(x, h)
            d_next = model.zero_state()              # from step t+1
            for row in rows_of(d_next):
                row[:] = [rng.uniform(-1.0, 1.0) for _ in row]
            steps.append([[rng.uniform(-1.0, 1.0) for _ in range(hidden)],
                          d_next, cache, transpose(model.W)])
        problems.append(dict(inputs=inputs, targets=targets, state=state,
                             steps=steps, params={p: getattr(model, p)
                                                  for p in PARAM_NAMES}))
    return json.loads(json.dumps({"cell": name, "problems": problems}))


def grade_run(job):
    """Each step's outputs, then each chunk's gradients, as JSON data."""
    numbers = []
    for problem in job["problems"]:
        params = problem["params"]
        model = CELLS[job["cell"]](len(params["c"]), len(params["V"][0]))
        vars(model).update(params)                   # its weights
        numbers += [list(model.step_backward(*args))
                    for args in problem["steps"]]
        numbers.append(model.loss_and_gradients(
            problem["inputs"], problem["targets"], problem["state"])[1])
    return json.loads(json.dumps(numbers))


def grade_child(job):
    """In the child: the submitted step_backward in its cell, run."""
    try:
        exec(compile(job["source"], "<submission>", "exec"), globals())
        cell_class(job["cell"]).step_backward = globals()["step_backward"]
        result = {"numbers": grade_run(job)}
    except Exception as e:
        own = [f.lineno for f in traceback.extract_tb(e.__traceback__)
               if f.filename == "<submission>"]      # the student's lines
        result = {"crash": f"{type(e).__name__}: {e}"[:300],
                  "line": own[-1] if own else None}
    with open("result.json", "w", encoding="utf-8") as f:
        json.dump(result, f)


def grade_error(got, want):
    """The worst relative error of got against want; inf where a shape
    differs or a number is missing."""
    if isinstance(want, dict):
        want, got = list(want.values()), (list(got.values()) if isinstance(
            got, dict) and got.keys() == want.keys() else None)
    if isinstance(want, list):
        return max(map(grade_error, got, want), default=0.0) if isinstance(
            got, list) and len(got) == len(want) else math.inf
    error = relative_error(got, want) if type(got) in (int, float) else \
        math.inf
    return error if error == error else math.inf     # NaN: inf


def tree_data(node, names={}):
    """A syntax tree as flat data, without recursion (a 1,000-term sum is no
    harder); names renames identifiers."""
    return [(type(n), [names.get(v, v) if type(v) is str else len(v) if
                       type(v) is list else "" if isinstance(v, ast.AST)
                       else (type(v), v) for _, v in ast.iter_fields(n)])
            for n in ast.walk(node)]


def definitions(tree, lines):
    """{name: (source, nodes)} of a file's statements and class members
    (Class.member); as in Python, the last of a name wins."""
    found, last = {}, {c.name: c for c in tree.body
                       if isinstance(c, ast.ClassDef)}
    for node in tree.body:
        parts = [(node, "")]
        if isinstance(node, ast.ClassDef):
            found[node.name] = (lines[node.lineno - 1], node.bases)
            parts = [(part, node.name + ".") for part in node.body
                     if last[node.name] is node]     # the class Python keeps
        for part, within in parts:
            start = (getattr(part, "decorator_list", None) or [part])[0].lineno
            found[within + (getattr(part, "name", None) or lines[
                start - 1].strip().split(" = ")[0][:40])] = (
                "\n".join(lines[start - 1:part.end_lineno]), [part])
    return found


def same_answer(func, answer):
    """Whether func is answer but for locals' names, layout and comments."""
    def shape(f):
        local = {getattr(n, "arg", getattr(n, "id", "")) for n in ast.walk(f)
                 if isinstance(n, (ast.arg, ast.Name)) and not isinstance(
                     getattr(n, "ctx", None), ast.Load)}
        return [tree_data(n, dict.fromkeys(local, "")) for n in [f.args] +
                f.body[ast.get_docstring(f) is not None:]]
    return shape(func) == shape(answer)


def flagged(func, source, want):
    """What func uses beyond ALLOWED and ATTRIBUTES, dunders, and how its
    signature differs from the handout's (want)."""
    flags, codes = set(), [compile(source, "?", "exec")]
    while codes:            # every scope's global names, from its bytecode
        code = codes.pop()  # (symtable would say too, but PyPy has none)
        codes += [c for c in code.co_consts if isinstance(c, types.CodeType)]
        flags |= {i.argval for i in dis.get_instructions(code) if i.opname
                  in GLOBAL_OPS and i.argval not in ALLOWED}
    for n in ast.walk(func):
        flags |= set(n.names) if isinstance(n, ast.Global) else {
            "class"} if isinstance(n, ast.ClassDef) else set()
        flags |= {f"import {a.name}" for a in getattr(n, "names", [])
                  if isinstance(a, ast.alias)
                  and (getattr(n, "module", None) or a.name) != "math"}
        if isinstance(n, ast.Attribute) and n.attr not in ATTRIBUTES:
            flags.add(f"{getattr(n.value, 'id', '')}.{n.attr}")
        flags |= {f"case .{a}" for a in getattr(n, "kwd_attrs", [])
                  if a not in ATTRIBUTES}            # match's attributes
        if isinstance(n, ast.Constant) and isinstance(n.value, complex):
            flags.add("complex")                     # the complex step
        flags |= {v for _, v in ast.iter_fields(n) for v in (
            v if isinstance(v, list) else [v]) if "__" in str(v)}
    args = func.args
    return sorted(flags) + [flag for flag, found in (
        ("decorator", func.decorator_list),
        ("default", args.defaults or any(args.kw_defaults)),
        ("annotation", func.returns or any(getattr(a, "annotation", None)
                                           for a in ast.walk(args))),
        ("parameters", len(args.args) != len(want.args.args) or
         args.posonlyargs or args.kwonlyargs or args.vararg or args.kwarg))
        if found]


def grade_file(path, data, g):
    """(verdict, worst error, what went wrong) as text; g.changed, g.flags."""
    cell = cell_class(g.name).__name__
    try:
        if isinstance(data, OSError):
            raise data
        text = importlib.util.decode_source(data)    # as Python reads it
        tree, lines = ast.parse(text, path), text.split("\n")
    except (OSError, SyntaxError, ValueError) as e:  # UnicodeDecodeError too
        return "MISSING", "", f"does not parse: {e.msg}, line {e.lineno}" \
            if isinstance(e, SyntaxError) else f"cannot read it: {e}"
    theirs, answer = definitions(tree, lines), f"{cell}.step_backward"
    classes = [c for c in tree.body if getattr(c, "name", "") == cell]
    g.changed = [k for k in sorted(set(g.mine) | set(theirs)) if not (
        k == answer or k in g.mine and k in theirs and (g.mine[k][0] == theirs[
            k][0] or [tree_data(n) for n in g.mine[k][1]] == [
            tree_data(n) for n in theirs[k][1]]))] + [   # not only layout
        f"{k} defined {n} times" for k, n in [(cell, len(classes)), (
            answer, sum(getattr(p, "name", "") == "step_backward" for p in
                        classes[-1].body) if classes else 0)] if n > 1]
    func = theirs.get(answer, ("", [None]))[1][0]
    if not isinstance(func, ast.FunctionDef):
        return "MISSING", "", f"no {answer}"
    start = (func.decorator_list or [func])[0].lineno  # decorators first
    source = "\n" * (start - 2) + "if 1:\n" + theirs[answer][0]  # at its lines
    g.flags = flagged(func, source, g.mine[answer][1][0])
    result = run_submission(dict(g.job, source=source))
    if result is None:
        return "TIMEOUT", "", f"over {GRADE_SECONDS} s"
    if "crash" in result:
        at = result.get("line")
        at = f"line {at}: {lines[at - 1].strip()}" if at in range(
            1, len(lines) + 1) else "?"
        return "CRASH", "", f"{result['crash']} ({at})"
    worst = grade_error(result.get("numbers"), g.reference)
    why = ("outputs of the wrong shape, or not numbers" if worst == math.inf
           else wrong_parts(result["numbers"], g.reference)
           if worst > CHECK_TOLERANCE else "close, not exact: numerical "
           "differentiation?" if worst > GRADE_EXACT else "the answer "
           "itself: this file's function, names and layout aside" if
           same_answer(func, g.mine[answer][1][0]) else "")
    return ("FAIL" if worst > CHECK_TOLERANCE else "REVIEW" if
            worst > GRADE_EXACT else "PASS", f"{worst:.1e}", why)


def wrong_parts(got, want):
    """Which outputs are wrong, and by how much: the step's da, dWh and
    d_prev over every step, then each chunk gradient; got is want's shape."""
    steps = [(g, w) for g, w in zip(got, want) if isinstance(w, list)]
    chunks = [(g, w) for g, w in zip(got, want) if isinstance(w, dict)]
    errors = {out: grade_error([g[k] for g, _ in steps],
                               [w[k] for _, w in steps])
              for k, out in enumerate(["da", "dWh", "d_prev"])}
    errors.update({"d" + p: grade_error([g[p] for g, _ in chunks],
                                        [w[p] for _, w in chunks])
                   for p in PARAM_NAMES})
    return "wrong: " + ", ".join(f"{out} {e:.1e}" for out, e in
                                 errors.items() if e > CHECK_TOLERANCE)


def run_submission(job):
    """The result of a fresh, isolated Python in an empty folder (None on
    time-out); its process group, and what escaped it, end with it."""
    folder, known = tempfile.mkdtemp(prefix="grade-"), children()
    child = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", CHILD], cwd=folder, env={
            k: v for k, v in os.environ.items() if k == "SYSTEMROOT"},
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True)
    subreaper(True)              # before it has its job: what escapes is ours
    try:
        child.communicate(marshal.dumps((job.pop("code"), job)),
                          timeout=GRADE_SECONDS)
        data = regular_file(os.path.join(folder, "result.json"))
        result = json.loads(data) if isinstance(data, bytes) else {
            "crash": f"the child wrote no result ({data})"}
        return result if isinstance(result, dict) else {}
    except subprocess.TimeoutExpired:
        return None
    finally:
        with contextlib.suppress(OSError, AttributeError):   # Windows
            os.killpg(child.pid, signal.SIGKILL)
        child.kill()
        child.wait()
        while children() - known:                    # as long as they fork
            for pid in children() - known:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
        subreaper(False)
        shutil.rmtree(folder, ignore_errors=True)


def regular_file(path, limit=2 ** 20):
    """A regular file's bytes (no FIFO, no link, limit at most), or why not."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
                     | getattr(os, "O_NONBLOCK", 0))
        with open(fd, "rb") as f:
            size = os.fstat(fd)
            if not stat.S_ISREG(size.st_mode) or size.st_size > limit:
                raise OSError(f"not a regular file of at most {limit} bytes")
            return f.read(limit)             # though it grow meanwhile
    except OSError as e:
        return e


def children():
    """This process's children, adopted ones too (Linux's /proc)."""
    found = set()
    with contextlib.suppress(OSError):
        for task in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{task}/children") as f:
                found |= {int(pid) for pid in f.read().split()}
    return found


def subreaper(on):
    """On Linux, adopt orphaned descendants (PR_SET_CHILD_SUBREAPER)."""
    with contextlib.suppress(Exception):             # not Linux: nothing
        import ctypes
        ctypes.CDLL(None).prctl(36, int(on), 0, 0, 0)


def files_in(folders):
    """{path: identity and times} in folders and their __pycache__."""
    found = {}
    for folder in folders:
        for sub in (folder, os.path.join(folder, "__pycache__")):
            for entry in os.scandir(sub) if os.path.isdir(sub) else []:
                with contextlib.suppress(OSError):
                    s = entry.stat(follow_symlinks=False)
                    found[entry.path] = (s.st_ino, s.st_size, s.st_mode,
                                         s.st_mtime_ns, s.st_ctime_ns)
    return found


def grade_one(path, data, g):
    """A row of text: grade_file under a catch-all, and the files touched."""
    print(f"grading {path!r}", flush=True)           # a hang names its file
    before, g.changed, g.flags = files_in(g.folders), [], []
    try:
        row = [path, *grade_file(path, data, g)]
    except Exception as e:                           # the grader's own fault
        row = [path, "CRASH", "", f"cannot grade it: {type(e).__name__}: "
               f"{e}"]
    after = files_in(g.folders)
    touched = {p for p in set(before) | set(after)
               if before.get(p) != after.get(p)}
    if row[1] == "PASS" and (touched or g.flags):    # earned, and clean
        row[1] = "REVIEW"
    here = os.path.dirname(os.path.abspath(g.path))
    for p in set(after) - set(before):               # planted by the grader
        if os.path.dirname(p) in (here, os.path.join(here, "__pycache__")):
            with contextlib.suppress(OSError):
                shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)
    if os.path.abspath(g.path) in touched:           # put back
        with contextlib.suppress(UserError, OSError):
            os.makedirs(here, exist_ok=True)         # its folder moved away
            write_atomically(g.path, g.text)
            os.chmod(g.path, g.mode)
        back = regular_file(g.path)
        if not isinstance(back, bytes) or back.decode("utf-8") != g.text:
            g.changed.append(f"{g.path} NOT put back: restore it yourself")
            print(f"warning: {path} changed {g.path}, which could not be "
                  f"put back: restore it before you grade again")
    row += ["; ".join(g.changed), " ".join(g.flags),
            " ".join(sorted(map(os.path.relpath, touched)))]
    return ["".join(c if c.isprintable() else repr(c)[1:-1] for c in cell)
            for cell in row]                         # one line each: "\\n"


def run_grade(cmd):
    """--grade CELL FILE...: a row per submission, as a table and as
    grades.csv (an earlier one kept as grades.old.csv)."""
    name, paths = cmd.args.grade[0].lower(), cmd.args.grade[1:]
    if name not in CELLS or not paths:
        raise UserError(f"--grade takes a cell (rnn, gru or lstm) and the "
                        f"files to grade, got {' '.join(cmd.args.grade)!r}")
    seed = cmd.s.seed if "--seed" in cmd.typed else random.SystemRandom(
        ).randrange(10 ** 6)
    path, text = this_file("--grade")
    print(f"grading {name} on fresh problems, seed {seed} (--seed {seed} "
          f"grades on the same problems again); a child process per file, "
          f"{GRADE_SECONDS} s each, no sandbox")
    job = grade_job(name, random.Random(seed))
    try:
        reference = grade_run(job)
    except Exception as e:                           # the handout, say
        raise UserError(f"this copy's own {cell_class(name).__name__}"
                        f".step_backward does not run ({type(e).__name__}: "
                        f"{e}): grade from your original, unedited copy")
    g = types.SimpleNamespace(
        name=name, reference=reference, path=path, text=text, job=dict(
            job, code=compile(blanked(text, CELLS), "<grader>", "exec")),
        mine=definitions(ast.parse(text), text.split("\n")),
        mode=os.stat(path).st_mode, folders={os.path.dirname(
            os.path.abspath(p)) for p in paths + [path, "grades.csv"]})
    files = [regular_file(os.path.realpath(p)) for p in paths + ["grades.csv"]]
    saved, here = sys.path[:], os.path.dirname(os.path.realpath(path))
    sys.path[:] = [p for p in saved if os.path.realpath(p or ".") != here]
    try:                       # what a child plants here is not imported
        table = [["file", "verdict", "worst error", "what went wrong",
                  "definitions changed", "names flagged", "files changed"]
                 ] + [grade_one(p, data, g) for p, data in zip(paths, files)]
    finally:
        sys.path[:] = saved
    shown = [[cell[:47] + "..." if len(cell) > 50 else cell or "-"
              for cell in row] for row in table]     # grades.csv has all
    widths = [max(map(len, column)) for column in zip(*shown)]
    for row in shown:
        print("  ".join(map(str.ljust, row, widths)).rstrip())
    out, old = io.StringIO(), files[-1]
    csv.writer(out).writerows([["'" * cell.startswith(tuple("=+-@")) + cell
                                for cell in row] + [cell] for row, cell in
                               zip(table, ["seed"] + [seed] * len(paths))])
    if isinstance(old, bytes):                       # as the model file
        write_atomically("grades.old.csv", old.decode("utf-8", "replace"))
    write_atomically("grades.csv", out.getvalue())
    print("wrote grades.csv" + " (the earlier one is now grades.old.csv)"
          * isinstance(old, bytes))
    return 0


# --- looking inside: how far back the gradient reaches -----------------------

def flow_norms(model, ids, steps):
    """[‖∂ℓ_t/∂h_{t-k}‖ for k = 0..steps-1] for every position t with steps
    states of history and a next character, ℓ_t = -log p(ids[t+1] |
    ids[:t+1]) backpropagated alone through the cell's step_backward. An
    LSTM's cell state is a separate variable: only h's gradient counts."""
    states, caches, state = [], [], model.zero_state()
    for x in ids[:-1]:                               # forward, from zeros
        state, cache = model.step_forward(x, state)
        states.append(state)
        caches.append(cache)
    VT, WT = transpose(model.V), transpose(model.W)
    no_output = [0.0] * len(VT)                      # no loss at step t-k
    norms = []
    for t in range(steps - 1, len(ids) - 1):
        dy, _ = softmax(model.scores(states[t]))
        dy[ids[t + 1]] -= 1.0                        # dℓ_t/do_t = p - onehot
        dh = [dot(V_col, dy) for V_col in VT]        # dℓ_t/dh_t
        row, d_state = [math.sqrt(dot(dh, dh))], model.zero_state()
        for k in range(1, steps):                    # back to h_{t-k}
            d_state = model.step_backward(dh, d_state, caches[t - k + 1],
                                          WT)[2]
            dh, h_part = no_output, model.hidden(d_state)
            row.append(math.sqrt(dot(h_part, h_part)))
        norms.append(row)
    return norms


def gradient_flow(model, vocab, text, steps, trained_steps, source):
    """--gradient-flow for one model: (the mean norm for each k over text,
    how many positions that is, a note on the k its training reached)."""
    ids = encode(text, vocab, "--gradient-flow text", source)
    if len(ids) < steps + 2:
        raise UserError(f"--gradient-flow text needs at least {steps + 2} "
                        f"characters with --flow-steps {steps}; it has "
                        f"{len(ids)}")
    norms = flow_norms(model, ids, steps)
    reach = (f"past k = {trained_steps - 1} the model was never trained to "
             f"use it" if steps > trained_steps else
             f"this table stops at k = {steps - 1}, within that reach")
    return [sum(col) / len(norms) for col in zip(*norms)], len(norms), (
        f"training cut the gradient after {trained_steps} steps "
        f"(--sequence-length); {reach}")


# --- looking inside: units that mean something -------------------------------
# Most units mean nothing a person can name. To find the few that do,
# --activations computes properties of TEXT, each a number at every position
# t that describes TEXT up to and including character t, and for each finds
# the unit that follows it best: the largest |Pearson r| between the
# property and the unit's value after reading character t. The start of
# TEXT counts as a newline, a space and a sentence's end.

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
#                      Karpathy, Johnson & Fei-Fei 2015, figure 4)
GATES_IN_CACHE = {   # (gate, its place in step_forward's cache, its name)
    "gru": [("r", 1, "reset"), ("z", 2, "update")],  # (h, r, z, n, Wh_n)
    "lstm": [("i", 1, "input"), ("f", 2, "forget"),  # (s, i, f, g, o,
             ("o", 4, "output")],                    #  tanh_s)
}


def text_properties(text):
    """{name: [its value at t for t = 0..len(text)-1]} for PROPERTIES."""
    rows = []                                        # a tuple per character
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
        rows.append((quotes % 2, squotes % 2, int(depth > 0), depth, column,
                     indent, word, sentence))        # PROPERTIES' order
    return {name: list(values) for (name, _), values in
            zip(PROPERTIES, zip(*rows))}


def trace(model, ids):
    """Run ids from the zero state: ({"h": h after each character, and for
    an LSTM "s": its cell states}, {gate: its values after each character,
    read off step_forward's caches}, the next character's probabilities)."""
    name = cell_name(model)
    slots = GATES_IN_CACHE.get(name, [])
    traces = {"h": [], "s": []} if name == "lstm" else {"h": []}
    gates, probs = {gate: [] for gate, _, _ in slots}, []
    state = model.zero_state()
    for x in ids:
        state, cache = model.step_forward(x, state)
        traces["h"].append(model.hidden(state))
        if name == "lstm":                           # its state is [h, s]
            traces["s"].append(state[1])
        for gate, slot, _ in slots:
            gates[gate].append(cache[slot])
        probs.append(softmax(model.scores(state))[0])
    return traces, gates, probs


def centered(values):
    """(values minus their mean, the length of that), or None if constant."""
    if max(values) == min(values):
        return None
    mean = sum(values) / len(values)
    d = [v - mean for v in values]
    return d, math.sqrt(dot(d, d))


def pearson(xs, ys):
    """Pearson's r = Σ dx·dy / (‖dx‖·‖dy‖), d the deviations from the mean;
    None if either list is constant."""
    cx, cy = centered(xs), centered(ys)
    return None if cx is None or cy is None else (
        dot(cx[0], cy[0]) / (cx[1] * cy[1]))


def best_units(properties, traces):
    """{property: (trace, unit, r)}: of all units of every trace, the one
    with the largest |r| with the property; None for a constant one."""
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
    """One row per property: the best unit and r, or "-"; notes on a unit
    that wins several and on a text too short to trust r."""
    print("r: the Pearson correlation, over the text, of the property with "
          "the unit's value\n(-1 to +1; near ±1, the unit follows it)\n"
          "property   unit      r   what the property is")
    wins = {}                                        # unit -> properties
    for name, what in PROPERTIES:
        if found[name] is None:
            print(f"{name:<9}     -      -   {what} (constant here)")
            continue
        trace, u, r = found[name]
        print(f"{name:<9} {trace} {u:<3} {r:+.2f}   {what}")
        wins.setdefault(f"{trace} {u}", []).append(name)
    for unit, names in wins.items():
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


def units_to_show(traces, given, count=8):
    """[(trace, unit)]: the units of --units ("3,17", or "s51" for an LSTM's
    cell state), else the `count` units of h that change most slowly."""
    hs, hidden = traces["h"], len(traces["h"][0])
    if given is None:
        return [("h", u) for u in sorted(
            range(hidden), key=lambda u: slowness([h[u] for h in hs]),
            reverse=True)[:count]]
    found = [re.fullmatch(r"([hs]?)([0-9]+)", part.replace(" ", ""))
             for part in given.split(",")]
    units = [(m[1] or "h", int(m[2])) for m in found if m]
    if len(units) < len(found) or len(set(units)) < len(units) or any(
            u >= hidden or trace not in traces for trace, u in units):
        cell_state = f", s0 to s{hidden - 1}" if "s" in traces else ""
        raise UserError(f"--units must be distinct units, 0 to {hidden - 1} "
                        f"(or h0 to h{hidden - 1}{cell_state}), "
                        f"comma-separated, got {given!r}")
    return units


def unit_style(value):
    """CSS for a character of value: -1 blue ... 0 white ... +1 red behind
    black text, at most 60% strong so the text reads at 4.5:1 or more."""
    fade = round(255 * (1 - 0.6 * min(1.0, abs(value))))
    color = (f"{255},{fade},{fade}" if value > 0 else f"{fade},{fade},255")
    return f"background:rgb({color});color:black"


def text_page(title, intro, chars, tips, rows, scale=None):
    """A self-contained HTML page: title, intro (HTML), then for each row
    (heading, values, name, attributes) the chars, each on unit_style(value
    / scale) (scale: by default the row's largest |value|, if beyond 1)."""
    parts = ['<!DOCTYPE html><html><head><meta charset="utf-8">',
             f"<title>{html.escape(title)}</title><style>"
             "body{font-family:sans-serif;margin:2em}"
             ".row{font-family:monospace;white-space:pre-wrap;"
             "line-height:1.7;border:1px solid #ccc;padding:.5em}"
             ".row span:hover{outline:2px solid #fb0}"
             '.nl::before{content:"\\21B5";opacity:.6}</style></head><body>',
             f"<h1>{html.escape(title)}</h1><p>{intro}</p>"]
    for heading, values, name, attributes in rows:
        size = scale or max(1.0, *map(abs, values))
        spans = []
        for ch, v, tip in zip(chars, values, tips):
            kind = ' class="nl"' if ch == "\n" else ""
            hover = html.escape(f"{name}: {v:+.3f}\n{tip}")
            spans.append(f'<span{kind} data-v="{v!r}" title="{hover}" '
                         f'style="{unit_style(v / size)}">'
                         f'{html.escape(ch)}</span>')
        parts.append(f'<h3>{html.escape(heading)}</h3><div class="row" '
                     f'{attributes}>{"".join(spans)}</div>')
    return "\n".join(parts + ["</body></html>"]) + "\n"


def page_rows(properties, found, traces, units):
    """The rows of activations.html: each property, then its best unit;
    then the units to show."""
    def unit_row(trace, u, heading=""):
        values = [v[u] for v in traces[trace]]
        return (heading or f"{trace} {u}: {min(values):+.2f} to "
                f"{max(values):+.2f}", values, f"{trace} {u}",
                f'data-unit="{u}" data-trace="{trace}"')

    rows = []
    for name, what in PROPERTIES:
        if found[name] is not None:
            trace, u, r = found[name]
            rows += [(f"{name}: {what}", [float(v) for v in properties[name]],
                      name, f'data-property="{name}"'),
                     unit_row(trace, u, f"best unit for {name}: {trace} {u}, "
                                        f"r = {r:+.2f}")]
    return rows + [unit_row(trace, u) for trace, u in units]


# --- looking inside: how the gates saturate ----------------------------------
# A gate near 0 or 1 is saturated: a forget gate near 1 keeps its cell state,
# an update gate near 0 replaces h. For each gate and unit, the fraction of
# TEXT's positions below SATURATED and above 1 - SATURATED; for the rnn, how
# often |h| is near 1 instead.

def saturation(trace, low, high):
    """[(fraction of positions below low, fraction above high)] per unit
    of trace (a list of vectors, one per position)."""
    n = len(trace)
    return [(sum(v[u] < low for v in trace) / n,
             sum(v[u] > high for v in trace) / n)
            for u in range(len(trace[0]))]


def saturation_summary(fractions):
    """How many units are mostly (at over half the positions) right-
    saturated, left-saturated and in between, and how many none of these."""
    right = sum(r > 0.5 for _, r in fractions)
    left = sum(lo > 0.5 for lo, _ in fractions)
    between = sum(1 - lo - r > 0.5 for lo, r in fractions)
    return (f"{right} mostly right-saturated, {left} mostly left-saturated, "
            f"{between} mostly in between, "
            f"{len(fractions) - right - left - between} none of these")


def gate_saturation(model, hs, gates, svg_path, title):
    """Print how each gate's units saturate and draw them as svg_path, a
    dot per unit at (fraction of positions low, fraction high), as in
    Karpathy et al.'s figure 4; the rnn's h instead, beyond ±0.9."""
    edge = 1 - SATURATED
    if gates:
        panels = [(f"{gate} ({what} gate)", saturation(
            gates[gate], SATURATED, edge)) for gate, _, what in
            GATES_IN_CACHE[cell_name(model)]]
        print(f"gates over {len(hs):,} positions (saturated: below "
              f"{SATURATED:g} or above {edge:g}):")
        for name, fractions in panels:
            print(f"  {name}: {saturation_summary(fractions)}")
    else:
        panels = [("h (tanh)", saturation(hs, -edge, edge))]
        share = sum(map(sum, panels[0][1])) / len(panels[0][1])
        print(f"no gates in the rnn; instead, |h| > {edge:g} at {share:.0%} "
              f"of positions, averaged over units; below -{edge:g} counts "
              f"as left, above +{edge:g} as right: "
              f"{saturation_summary(panels[0][1])}")
    series = [("limit", "left + right = 1", "-", "#bbbbbb", [(0, 1), (1, 0)])]
    series += [(f"gate{k}", name, ".", ["#1f77b4", "#d62728", "#2ca02c"][k],
                fractions) for k, (name, fractions) in enumerate(panels)]
    write_atomically(svg_path, svg_chart(
        series, title, "fraction of positions left-saturated (low)",
        "fraction right-saturated (high)"))
    print(f"chart: {svg_path}")


# --- measuring: a counting baseline, Kneser-Ney n-grams ----------------------
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


def fit_ngrams(text, vocab, max_order):
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


def ngram_baseline(train_text, val_text, vocab, max_order):
    """Fit on train_text, score val_text with every order:
    (best order, {order: bits/char}, the fitted tables)."""
    ngrams = fit_ngrams(train_text, vocab, max_order)
    bits = {n: -sum(map(math.log2, ngram_probs(ngrams, n, val_text)))
            / (len(val_text) - 1) for n in range(1, max_order + 1)}
    return min(bits, key=bits.get), bits, ngrams


def counting_line(logs, vocab, train_text, val_text, text, name, s):
    """The network (logs: its ln p of each char of text but the first)
    against the best n-gram on text (called `name`), fitted on train_text,
    its order picked on val_text: (the line, the n-gram's p of each)."""
    start = time.monotonic()
    counted = train_text[-s.ngram_max_chars:]        # about 0.7 GB a million
    best, _, ngrams = ngram_baseline(counted, val_text, vocab, s.ngram_order)
    probs = ngram_probs(ngrams, best, text)
    ngram = -sum(map(math.log2, probs)) / len(probs)
    net = -sum(logs) / len(logs) / math.log(2)
    return (f"{best}-gram (Kneser–Ney) on the same {name}: {ngram:#.4g} "
            f"bits/char; the model's {net:#.4g} is {abs(net - ngram):#.3g} "
            f"{'worse' if net > ngram else 'better'} (best of orders "
            f"1-{s.ngram_order}, {time.monotonic() - start:.1f} s)" + (
                f"; counted the last {len(counted):,} training chars"
                if len(counted) < len(train_text) else "")), probs


# --- measuring: --evaluate, the copy check, --compare ------------------------

def training_texts(model_path, checkpoint, vocab):
    """((training text, validation text) of the model's data file, None),
    or (None, why not) if it is not at hand, changed or not split."""
    data = checkpoint["config"].get("data")
    if not isinstance(data, str):
        return None, f"{model_path} does not name its data file"
    path = data if os.path.isfile(data) else os.path.join(
        os.path.dirname(model_path), data)            # here, or beside it
    try:
        text = read_text(path)
    except UserError as e:
        return None, str(e)
    if sorted(set(text)) != vocab:
        return None, f"{path} has changed since training"
    fraction = checkpoint["config"].get("validation_fraction")
    if type(fraction) not in (int, float) or not 0 <= fraction < 1:
        fraction = VALIDATION_FRACTION
    train_text, val_text = split_data(text, fraction)
    if not val_text:
        return None, f"{path} has no validation part to pick an order on"
    return (train_text, val_text), None


def run_evaluate(cmd):
    """--evaluate: the model's bits/char on a file, less the characters it
    has never seen, then the n-gram's; both by kind of position and for
    closers, and evaluate.html, when the n-gram can be fitted."""
    path, model_path = cmd.args.evaluate, cmd.s.model_path
    model, vocab, _, checkpoint = load_model_for(cmd)
    text = read_text(path, "--evaluate file")        # UTF-8, 2 chars or more
    unknown = Counter(ch for ch in text if ch not in vocab)
    if unknown:                                      # as perplexity tools do
        text = "".join(ch for ch in text if ch not in unknown)
        print(f"notice: skipped {sum(unknown.values()):,} characters of "
              f"{path} that are not in {model_path}'s vocabulary, in both "
              f"scores: " + ", ".join(f"{ch!r} ×{n:,}" for ch, n in
                                      unknown.most_common(8))
              + (", ..." if len(unknown) > 8 else ""))
    if len(text) < 2:
        raise UserError(f"--evaluate file {path} has fewer than 2 "
                        f"characters that {model_path} knows")
    logs = log_probs(model, encode(text, vocab))
    net = [-v / math.log(2) for v in logs]          # bits of each char
    print(f"{path}: {sum(net) / len(net):#.4g} bits/char over "
          f"{len(net):,} predictions ({model_path}: {checkpoint['cell']}"
          f", hidden {len(model.V[0])})")
    probs = yardstick(cmd, logs, vocab, checkpoint, text, path)
    if probs is None:
        return print("notice: hence no tables by kind and no evaluate.html")
    counted = [-math.log2(p) for p in probs]
    for heading, rows in compared(text, net, counted):
        print(heading)
        for label, n, a, b, note in rows:
            print(f"{label:<15} {n:>7,}  {a:>7.3f}  {b:>8.3f}  {note}"
                  .rstrip())
    page = beside(model_path, "evaluate.html")
    write_atomically(page, evaluate_page(text, net, counted, f"{path}: "
                                         f"{model_path} against counting"))
    print(f"wrote {page}")


def yardstick(cmd, logs, vocab, checkpoint, text, name):
    """The n-gram's line on text and its p of each char but the first, if
    the model's data file is at hand; else a notice why not, and None."""
    texts, why = training_texts(cmd.s.model_path, checkpoint, vocab)
    if texts is None:
        return print(f"notice: no n-gram comparison: {why}")
    if text in texts[0] or texts[0] in text:         # the training part
        print(f"notice: {name} is or holds text {cmd.s.model_path} was "
              f"trained on; its bits/char (and the n-gram's) measure memory, "
              f"not prediction: measure on held-out text")
    line, probs = counting_line(logs, vocab, *texts, text, "text", cmd.s)
    print(line)
    return probs


# --- measuring: where the network wins and loses -----------------------------
# --evaluate also compares the two models character by character: by the
# kind of position (that of the character predicted, and for a letter, digit
# or _, a word character, regex \w, that of the one before it too), by the
# distance from a closing bracket or quote to its opener, and on a page.

KINDS = {"word start": "a letter, digit or _ after any other character",
         "inside a word": "a letter, digit or _ after one of those",
         "space": "whitespace other than a newline", "newline": "a newline",
         "punctuation": "Unicode category P: . , ; ' \" ( ) - ...",
         "other": "the rest: symbols such as + = < $ ..."}
CLOSERS = {")": "(", "]": "[", "}": "{", "”": "“"}       # these nest
DISTANCES = {"1-5": 5, "6-20": 20, "21-80": 80, "81+": math.inf}


def kind_of(before, ch):
    """The kind (in KINDS) of the position where ch follows `before`."""
    if ch.isspace():
        return "newline" if ch == "\n" else "space"
    if re.match(r"\w", ch):                        # a letter, digit or _
        return "inside a word" if re.match(r"\w", before) else "word start"
    return "punctuation" if unicodedata.category(ch)[0] == "P" else "other"


def closers(text):
    """[(position, distance to its opener)] of each closing bracket or
    quote of text. Brackets nest: a closer pairs with the opener on top of
    the stack if that is its own. " and ' each alternate: every second one
    closes, and a ' between two word characters (don't) is no quote."""
    stack, quotes, found = [], {}, []
    for t, ch in enumerate(text):
        if ch in CLOSERS.values():
            stack.append((ch, t))
        elif ch in CLOSERS and stack and stack[-1][0] == CLOSERS[ch]:
            found.append((t, t - stack.pop()[1]))
        elif ch in "\"'" and not re.fullmatch(r"\w'\w", text[t - 1:t + 2]):
            if ch in quotes:
                found.append((t, t - quotes.pop(ch)))
            else:
                quotes[ch] = t
    return found


def compared(text, net, counted):
    """[(heading, rows (label, count, the network's, counting's, note))]:
    bits/char by kind of position, then closers' mean p by distance to the
    opener if text has any; net, counted: the bits of each of text[1:]."""
    kinds, far = {k: [] for k in KINDS}, {k: [] for k in DISTANCES}
    for t in range(1, len(text)):
        kinds[kind_of(text[t - 1], text[t])].append(t)
    for t, d in closers(text):
        far[next(k for k, most in DISTANCES.items() if d <= most)].append(t)

    def rows(groups, of):
        return [(label, len(ts), *(sum(of(bits[t - 1]) for t in ts) / len(ts)
                                   for bits in (net, counted)),
                 KINDS.get(label, "")) for label, ts in groups.items() if ts]
    tables = [("bits/char by kind of position (the char predicted, and the "
               "one before)\nkind              count  network  counting",
               rows(kinds, float))]
    if any(far.values()):
        tables.append(("closing brackets ) ] } ” and quotes \" ' by distance "
                       "to the opener; mean p\ndistance          count  "
                       "network  counting", rows(far, lambda b: 2 ** -b)))
    return tables


def evaluate_page(text, net, counted, title):
    """evaluate.html: each char after the first, blue where the network
    needs fewer bits than counting, red where more (full at 4 bits)."""
    key = " ... ".join(f'<span style="{unit_style(v / 4)}">{words}</span>'
                       for v, words in [(-4, "the network saves 4 bits"),
                                        (0, "the same"), (4, "loses 4")])
    return text_page(title, f"Each character after the first, coloured by "
                     f"the bits the network needs to predict it less the "
                     f"counting baseline's: {key} or more. Hover a character "
                     f"for both.", text[1:], [
                         f"network {a:.2f} bits, counting {b:.2f} bits"
                         for a, b in zip(net, counted)], [(
                             "network less counting", [a - b for a, b in zip(
                                 net, counted)], "network less counting, "
                             "bits", 'data-row="saved"')], scale=4.0)


def copy_lines(generated, train_text):
    """The copy check, two lines: how many of generated's words occur as
    words in train_text (a last word the sample cuts off is left out), and
    the longest stretch of generated found verbatim in train_text."""
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
    found = sum(word in known for word in words)
    share = f" ({found / len(words):.0%})" if words else ""
    return [f"copy check on the last sample: {found} of its {len(words)} "
            f"words{share} occur in the training text",
            f"longest stretch of it found verbatim in the training text: "
            f"{len(longest)} characters, {longest!r}"]


PALETTE = [("#1f77b4", "#aec7e8"), ("#d62728", "#ff9896"),  # (val, train)
           ("#2ca02c", "#98df8a"), ("#ff7f0e", "#ffbb78"),
           ("#9467bd", "#c5b0d5"), ("#8c564b", "#c49c94")]


def run_compare(cmd):
    """--compare: a table row per model file; compare.svg beside the first,
    each model's validation curve and, lighter, its train curve, against
    the characters it has trained on (iterations × sequence length)."""
    paths, rows, series = cmd.args.compare, [], []
    for k, path in enumerate(paths):
        model, _, run, checkpoint = load_model(path)
        history, length = run.history, trained_length(checkpoint)
        weights = sum(len(row) for row in model.U + model.W + model.V
                      + [model.b, model.c])
        last = [f"{history[key][-1][1]:.3f}" if history[key] else "-"
                for key in ("train", "val")]
        rows.append([path, checkpoint["cell"], f"{len(model.V[0])}",
                     f"{weights:,}", f"{run.iteration:,}",
                     f"{run.iteration * length:,}",
                     f"{run.seconds:,.1f}" if run.seconds else "-", *last])
        dark, light = PALETTE[k % len(PALETTE)]
        label = f"{path} ({checkpoint['cell']}, sequence {length})"
        drawn = [[(i * length, y) for i, y in history[key] if i]  # 0: a
                 for key in ("val", "train")]                 # mere guess
        series += [(f"val{k}", label, "o", dark, drawn[0]),
                   (f"train{k}", "", "*", light, drawn[1])]
    heads = ["model", "cell", "hidden", "weights", "iterations",
             "characters", "seconds", "train", "val"]
    widths = [max(len(row[i]) for row in rows + [heads])
              for i in range(len(heads))]
    for row in [heads] + rows:
        print("  ".join([row[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(row[1:], widths[1:])]))
    series = [one for one in series if one[4]]           # drawn if any point
    svg_path = beside(paths[0], "compare.svg")
    if not series:
        print("notice: no loss history in these files; no chart")
        return
    write_atomically(svg_path, svg_chart(
        series, "validation loss (dots) and smoothed train loss (lighter)",
        "characters trained (iterations × sequence length)"))
    print(f"chart: {svg_path}")


# --- charts: lines as terminal text and as an SVG file -----------------------
# A chart is a list of series (name, label, mark, color, points), each point
# an (x, y) pair; the mark "o" adds a dot on each point, "." draws dots and
# no line. Log-scale charts pass log10(y), a label for the ticks and
# log=True, which puts the ticks on whole decades.

def loss_series(history):
    """The loss chart: train (every log line) and validation curves."""
    return [("train", "train (smoothed)", "*", "#1f77b4", history["train"]),
            ("val", "validation", "o", "#d62728", history["val"])]


def chart_axes(series, log=False):
    """(x_ticks, y_ticks) covering every point: round numbers, x from 0;
    with log, y is log10 of the value and the ticks are whole decades, the
    top one the first at or above the data."""
    points = [point for *_, line in series for point in line] or [(0, 0)]
    low, high = min(y for _, y in points), max(y for _, y in points)
    top = math.ceil(high) if log else 0
    return ticks(0, max(x for x, _ in points)), [
        top + y for y in ticks(low - top, high - top, 8 if log else 6, log)]


def ticks(low, high, count=6, whole=False):
    """About `count` round-numbered ticks from <= low to >= high; with
    whole, whole numbers."""
    raw = (high - low or 1) / count                  # one point: a unit
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    step = max(1, math.ceil(step)) if whole else step
    first, last = math.floor(low / step), math.ceil(high / step)
    return [round(k * step, 10) for k in range(first, max(last, first + 1)
                                               + 1)]


def text_chart(series, width=60, height=13):
    """The loss series as lines of text, each point drawn with its mark."""
    x_ticks, y_ticks = chart_axes(series)
    (x0, x1), (y0, y1) = (x_ticks[0], x_ticks[-1]), (y_ticks[0], y_ticks[-1])
    grid = [[" "] * width for _ in range(height)]
    for _, _, mark, _, points in series:
        for x, y in points:
            grid[round((y1 - y) / (y1 - y0) * (height - 1))][
                round((x - x0) / (x1 - x0) * (width - 1))] = mark
    lines = ["bits/char   " + "   ".join(f"{mark} {label}" for _, label,
                                         mark, _, _ in series)]
    for r, row in enumerate(grid):
        label = f"{y1 - r * (y1 - y0) / (height - 1):6.2f}"
        lines.append((label if r in (0, height // 2, height - 1) else " " * 6)
                     + " |" + "".join(row))
    return "\n".join(lines + ["       +" + "-" * width, f"        {x0:<30g}"
                              f"{x1:>30g} iteration"])


def svg_chart(series, title, x_name="iteration",
              y_name="bits per character", y_label="{:g}".format, log=False):
    """The series as a standalone SVG document: axes, ticks, legend."""
    wider = 7 * max(0, max(len(s[1]) for s in series) - 16)  # long labels
    width, height = max(720 + wider, 40 + 8 * len(title)), 420
    left, right, top, bottom = 70, 150 + wider, 60, 50
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
    grid = [(sx(x), top, sx(x), height - bottom, sx(x), height - bottom
             + 18, "middle", f"{x:,.10g}") for x in x_ticks] + [
        (left, sy(y), width - right, sy(y), left - 8, sy(y) + 4, "end",
         y_label(y)) for y in y_ticks]                # vertical, horizontal
    parts += [f'<line x1="{ax:.1f}" y1="{ay:.1f}" x2="{bx:.1f}" y2="'
              f'{by:.1f}" stroke="#ddd"/><text x="{tx:.1f}" y="{ty:.1f}" '
              f'text-anchor="{anchor}">{label}</text>'
              for ax, ay, bx, by, tx, ty, anchor, label in grid]
    parts.append(f'<path d="M{left},{top} V{height - bottom} H{width - right}'
                 f'" fill="none" stroke="black"/><text x="'
                 f'{(left + width - right) / 2}" y="{height - 12}" '
                 f'text-anchor="middle">{html.escape(x_name)}</text><text '
                 f'transform="translate(20 {(top + height - bottom) / 2}) '
                 f'rotate(-90)" text-anchor="middle">{html.escape(y_name)}'
                 f'</text>')
    labelled = 0
    for name, label, mark, color, line in series:
        points = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in line)
        if mark != ".":                            # "." draws dots alone
            parts.append(f'<polyline class="{name}" points="{points}" '
                         f'fill="none" stroke="{color}" stroke-width="2"/>')
        if mark in "o.":                           # a dot per measurement
            parts += [f'<circle class="{name}" cx="{sx(x):.1f}" '
                      f'cy="{sy(y):.1f}" r="3" fill="{color}" '
                      f'fill-opacity="0.7"><title>{x:.3g}, {y:.3g}</title>'
                      f'</circle>' for x, y in line]
        if label:                                  # in the legend
            ly, lx = top + 10 + 22 * labelled, width - right
            labelled += 1
            parts.append(f'<line x1="{lx + 12}" y1="{ly}" x2="{lx + 36}" '
                         f'y2="{ly}" stroke="{color}" stroke-width="2"/>'
                         f'<text x="{lx + 42}" y="{ly + 4}">'
                         f'{html.escape(label)}</text>')
    return "\n".join(parts + ["</svg>"]) + "\n"


# --- main: the flags come from the constants ---------------------------------
# Each constant in SETTINGS is a flag: HIDDEN_SIZE is --hidden-size, with the
# comment beside the constant as its help. COMMANDS add what is not a
# setting. RULES say what each setting must be, in one place.

COMMANDS = [  # (flag, what it takes ("X ...": one or more X), help)
    ("--generate", "TEXT", "load --model, continue TEXT and print only that"),
    ("--predict", "TEXT", "load --model and show its top 3 guesses for each "
     "next character of TEXT"),
    ("--gradient-flow", "TEXT", "load --model (or each model of --compare) "
     "and measure how far back the gradient of each next-character loss "
     "reaches over TEXT; writes gradient_flow.svg beside the (first) model, "
     "a line per model"),
    ("--activations", "TEXT", "load --model, print the unit that best "
     "follows each property of TEXT and how the gates saturate; write "
     "activations.html and gates.svg beside it"),
    ("--units", "N[,N...]", "units for --activations: 3,17, or s51 for an "
     "LSTM's cell state (default: the 8 that change most slowly)"),
    ("--evaluate", "PATH", "load --model and print its bits per character "
     "on the text file PATH, beside the counting baseline's"),
    ("--compare", "MODEL ...", "print a table of these model files (time, "
     "characters trained, loss) and write compare.svg, their loss against "
     "characters trained, beside the first; with --gradient-flow, their "
     "gradient flow on one chart instead"),
    ("--resume", None, "continue training --model where it stopped, with "
     "its saved settings unless you give the flag (without --resume, "
     "training keeps an existing model file as NAME.old.json)"),
    ("--check", None, "check every cell's backward pass against central "
     "differences and its loss against a recorded value; with --cell, only "
     "that cell (needs no data or model)"),
    ("--exercise", "CELL", "write a handout beside this file: a copy with "
     "that cell's step_backward left for the student to write"),
    ("--grade", "CELL FILE ...", "grade students' files from this, your own "
     "copy: each file's step_backward for that cell against this file's, "
     "on fresh random problems, in a child process with a time limit; a "
     "table and grades.csv. It runs students' code and is no sandbox: "
     "grade untrusted classes in a container or a throwaway account"),
]
RULES = [  # (what the value must be, the test, the settings it applies to)
    ("one of rnn, gru, lstm", lambda v: v in CELLS, ["cell"]),
    ("adagrad or sgd", lambda v: v in ("adagrad", "sgd"), ["optimizer"]),
    ("a whole number >= 1", lambda v: type(v) is int and v >= 1, [
        "hidden_size", "sequence_length", "max_iterations", "sample_every",
        "log_every", "flow_steps", "ngram_order", "ngram_max_chars"]),
    ("a whole number >= 0", lambda v: type(v) is int and v >= 0,
     ["sample_length"]),
    ("a whole number >= 0 (0 = off)", lambda v: type(v) is int and v >= 0,
     ["top_k"]),
    ("a whole number", lambda v: type(v) is int, ["seed"]),
    ("a finite number > 0", lambda v: 0 < v < math.inf, ["learning_rate"]),
    ("a finite number >= 0 (0 = greedy)", lambda v: 0 <= v < math.inf,
     ["temperature"]),
    ("a finite number >= 0 (0 = off)", lambda v: 0 <= v < math.inf,
     ["clip", "clip_norm"]),
    ("in [0, 1)", lambda v: 0 <= v < 1, ["validation_fraction"]),
    ("a file name, not empty", lambda v: type(v) is str and v != "",
     ["data_path", "model_path"]),
]


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports a bad flag as one 'error:' line."""

    def error(self, message):
        raise UserError(message)


def flag_of(name):
    """The flag of a setting: HIDDEN_SIZE or hidden_size -> --hidden-size."""
    name = name.lower()
    return {"data_path": "--data", "model_path": "--model"}.get(
        name, "--" + name.replace("_", "-"))


def constant_comments():
    """{constant: the comment beside it at the top of this file}; empty
    where the file's text is not at hand (run from a string in a tab)."""
    comments, name = {}, None
    for line in linecache.getlines(train.__code__.co_filename):
        found = re.match(r"([A-Z_]+) = .*?  # (.*)", line)
        if found and found[1] in SETTINGS:
            name = found[1]
            comments[name] = found[2].strip()
        elif name and re.match(r"\s+# ", line):      # the comment goes on
            comments[name] += " " + line.strip()[2:]
        else:
            name = None
    return comments


def temperatures(text):
    """--temperature value: one number or several, comma-separated."""
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number or a "
                                         f"comma-separated list of numbers")


def parser():
    """The flags: one per constant, defaulting to it, then COMMANDS."""
    p = ArgumentParser(description="Train a character-level RNN on a text "
                       "file, then generate text from it. Each flag sets "
                       "the constant of that name at the top of the file.",
                       allow_abbrev=False,
                       prog="rnn_from_scratch.py" if hosted() else None)
    comments = constant_comments()
    for name in SETTINGS:
        default = globals()[name]
        p.add_argument(flag_of(name), metavar=name, dest=name.lower(),
                       type=temperatures if name == "TEMPERATURE"
                       else type(default), default=default,
                       help=f"{comments.get(name, '')} (default: "
                       f"%(default)r)".lstrip())
    for flag, takes, text in COMMANDS:
        if takes is None:
            p.add_argument(flag, action="store_true", help=text)
        else:
            p.add_argument(flag, metavar=takes.rstrip(" ."), help=text,
                           nargs="+" if takes.endswith("...") else None)
    return p


def unknown_flag(unknown, names):
    """The error for arguments no flag takes, with the flag closest to a
    mistyped one: a prefix, initials, or difflib's nearest."""
    message = f"unrecognized arguments: {' '.join(unknown)}"
    flags = [flag_of(n)[2:] for n in names] + ["help"]
    for typed in unknown:                           # compared without "--"
        word = typed.split("=", 1)[0].lstrip("-")
        close = ([f for f in flags if len(word) > 1 and (f.startswith(word)
                  or "".join(part[0] for part in f.split("-")) == word)]
                 or difflib.get_close_matches(word, flags, n=1))
        if typed.startswith("-") and close:
            return f"{message}; did you mean --{close[0]}?"
    return f"{message}; see --help for every flag"


class Command:
    """One command line: the settings s, the commands' values (args), the
    flags typed, and the flags whose values --resume took from the model."""

    def __init__(self, argv):
        args, unknown = parser().parse_known_args(argv)
        if unknown:
            raise UserError(unknown_flag(unknown, vars(args)))
        self.argv, self.args, self.from_model = list(argv), args, set()
        self.typed = {a.split("=", 1)[0] for a in argv if a.startswith("--")}
        self.s = settings(**{n.lower(): getattr(args, n.lower())
                             for n in SETTINGS})
        t = self.s.temperature
        self.temperatures = t if isinstance(t, list) else [t]
        self.s.temperature = self.temperatures[0]
        views = [flag for flag in VIEWS
                 if getattr(args, flag[2:].replace("-", "_")) is not None]
        if len(views) > 1 and views != ["--gradient-flow", "--compare"]:
            raise UserError(f"{views[0]} and {views[1]} do not go together: "
                            f"give one (--compare goes with --gradient-flow)")
        self.view = (views + [None])[0]
        self.check()

    def where(self, name):
        """The flag typed, the model file that held it, or the constant."""
        flag = flag_of(name)
        if flag in self.typed:
            return flag
        if flag in self.from_model:
            return f"{flag} saved in {self.s.model_path}"
        return f"{name.upper()} at the top of the file (or {flag})"

    def check(self):
        """Refuse values that cannot work, naming where they came from."""
        if isinstance(self.s.cell, str):
            self.s.cell = self.s.cell.lower()        # LSTM, Lstm and lstm
        for what, good, names in RULES:
            for name in names:
                for value in (self.temperatures if name == "temperature"
                              else [getattr(self.s, name)]):
                    try:
                        ok = good(value)
                    except TypeError:                # an edited constant
                        ok = False
                    if not ok:
                        raise UserError(f"{self.where(name)} must be {what}, "
                                        f"got {value!r}")
        for flag, view in [("--units", "--activations"),
                           ("--flow-steps", "--gradient-flow")]:
            if flag in self.typed and self.view != view:
                raise UserError(f"{flag} goes with {view} TEXT; without it "
                                f"this command would train a new model")
        for flag, text in [(flag, getattr(self.args, flag[2:].replace(
                "-", "_"))) for flag in VIEWS] + [
                (self.where("prime_text"), self.s.prime_text)]:
            if text == "":
                raise UserError(f"{flag} needs at least one character")


def load_model_for(cmd):
    """load_model(--model), its cell and hidden size made the settings' (a
    flag typed against them is an error); --resume takes its config too."""
    s = cmd.s
    model, vocab, run, checkpoint = load_model(s.model_path)
    saved = {**checkpoint["config"], "cell": checkpoint["cell"],
             "hidden_size": len(model.V[0])}
    for key, name in CONFIG.items():
        has, now, flag = saved.get(key), getattr(s, name), flag_of(name)
        shape = key in ("cell", "hidden_size")      # the file's, always
        if has in (None, now) or key == "max_iterations" or not (
                shape or cmd.args.resume):          # a view: the shape only
            continue
        if flag in cmd.typed and shape:
            raise UserError(f"{flag} {now} does not match {s.model_path}, "
                            f"which has {has}; leave the flag out to use "
                            f"the file's")
        if flag in cmd.typed:
            print(f"notice: {flag} {now} replaces {has}, the value "
                  f"{s.model_path} was trained with")
            continue
        if cmd.args.resume:
            print(f"notice: using {s.model_path}'s {flag} {has}, not "
                  f"{name.upper()} = {now!r} at the top of the file")
        setattr(s, name, has)
        cmd.from_model.add(flag)
    return model, vocab, run, checkpoint


# a model file's config {its key, the flag's name: the setting}: its cell and
# hidden_size always hold; --resume takes the rest but max_iterations unless
# typed; a view ignores the training ones, --prime-text and --resume, saying so
CONFIG = {flag_of(name)[2:].replace("-", "_"): name for name in (
    "data_path", "cell", "hidden_size", "sequence_length", "learning_rate",
    "optimizer", "clip", "clip_norm", "max_iterations", "sample_every",
    "log_every", "validation_fraction", "seed")}
TRAINING_ONLY = {"--prime-text", "--resume"} | {
    flag_of(name) for name in CONFIG.values()
    if name not in ("cell", "hidden_size", "seed")}


def resume(cmd):
    """(model, vocab, run) for --resume, with the file's saved settings but
    for the flags typed (never the constants), each said in a notice."""
    s = cmd.s
    model, vocab, run, _ = load_model_for(cmd)
    if "--max-iterations" not in cmd.typed:
        print(f"notice: training on to MAX_ITERATIONS = "
              f"{s.max_iterations:,} at the top of the file; pass "
              f"--max-iterations to choose the total")
    cmd.check()                         # saved values, checked like flags
    if run.iteration >= s.max_iterations:
        raise UserError(f"{s.model_path} is already at iteration "
                        f"{run.iteration}; raise --max-iterations to train "
                        f"further")
    return model, vocab, run


# --- main: training with checkpoints, --resume and Ctrl-C --------------------

def run_training(cmd):
    """Train a new model, or go on with one (--resume), through the story's
    train_and_sample, with a Saver; then end_of_run."""
    s, model, run, old = cmd.s, None, None, None
    if cmd.args.resume:
        model, model_vocab, run = resume(cmd)
    text = read_data(cmd)
    vocab = sorted(set(text))
    prime_ids = prime_for(s, text, vocab)             # fail before training
    check_writable(s.model_path)
    check_before_training(s.cell)
    if model is None:
        old = plan_to_keep(s.model_path)
        model = CELLS[s.cell](len(vocab), s.hidden_size, s.seed)
        run = Run(model, len(vocab))
    elif model_vocab != vocab:
        new = show_chars(sorted(set(vocab) - set(model_vocab))) or "none"
        gone = show_chars(sorted(set(model_vocab) - set(vocab))) or "none"
        raise UserError(f"{s.data_path} and {s.model_path} have different "
                        f"characters (only in the data: {new}; only in the "
                        f"model: {gone}); resume with the data it was "
                        f"trained on, or train anew without --resume")
    else:
        val = run.history["val"]
        print(f"resuming {s.model_path} at iteration {run.iteration}: train "
              f"{run.smooth_loss:.2f} bits/char, val "
              f"{f'{val[-1][1]:.2f} bits/char' if val else '- (none yet)'}")
    saver = Saver(s, model, vocab, run, old, resume_command(cmd.argv))
    try:                                            # Ctrl-C sets stop
        handler = signal.signal(signal.SIGINT,
                                lambda *_: saver.stop.append(1))
    except (AttributeError, OSError, ValueError):   # no signals here: a
        handler = False                             # browser, a thread
    try:
        train_and_sample(s, model, run, saver.after_update)
    except UserError as e:
        if not str(e).startswith("training diverged"):
            raise
        off = "" if s.clip or s.clip_norm else (
            ", or --clip-norm 5: clipping is off")
        raise UserError(f"{e}{off}; {saver.on_disk()}")  # what is on disk
    finally:
        if handler is not False:        # None: a handler not set by Python
            signal.signal(signal.SIGINT, handler or signal.SIG_DFL)
    end_of_run(cmd, model, vocab, text, run, prime_ids, saver)


def read_data(cmd):
    """The training text, or an error that says which --data to pass."""
    path = cmd.s.data_path
    try:
        return read_text(path)
    except UserError as e:
        if os.path.isfile(path):
            raise
        raise UserError(f"{e}; " + (
            f"{cmd.s.model_path} was trained on it; pass --data with its "
            f"path" if "--data" in cmd.from_model else
            "pass --data with the path of a text file"))


def prime_for(s, text, vocab):
    """The ids fed in before sampling: s.prime_text's, or if the data lacks
    PRIME_TEXT's characters, the first word's, which s.prime_text becomes."""
    if s.prime_text == PRIME_TEXT and not set(PRIME_TEXT) <= set(vocab):
        missing = show_chars(sorted(set(PRIME_TEXT) - set(vocab)))
        s.prime_text = (text.split() or [text])[0][:20]
        print(f"notice: PRIME_TEXT {PRIME_TEXT!r} has characters that are "
              f"not in {s.data_path} ({missing}); samples start from the "
              f"data's first word, {s.prime_text!r}, instead")
    try:
        return encode(s.prime_text, vocab, "--prime-text", s.data_path)
    except UserError as e:
        allowed = repr("".join(vocab))
        if len(allowed) > 100:
            allowed = allowed[:96] + "..." + allowed[0]   # keep the quote
        raise UserError(f"{e}; allowed ({len(vocab)}): {allowed}")


def show_chars(chars, limit=60):
    """Characters as Python literals, e.g. 'a' '\\n', shortened if long."""
    shown = " ".join(repr(ch) for ch in chars)
    return shown if len(shown) <= limit else shown[:limit - 3] + "..."


def plan_to_keep(path):
    """Before a new run: if path holds a file, say that the first save moves
    it to NAME.old.EXT and return that name (a failed run costs nothing)."""
    if not os.path.exists(path):
        return None
    old = old_model_path(path)
    if os.path.isdir(old):
        raise UserError(f"cannot keep the old {path} as {old}: {old} is a "
                        f"folder; move it yourself, or use --model NEW.json")
    is_model = False
    try:
        is_model = "params" in read_json(path)
        model, _, run, ck = load_model(path)
        val = run.history["val"]
        held = (f"{ck['cell']}, hidden {len(model.V[0])}, {run.iteration:,} "
                f"iterations, " + (f"val {val[-1][1]:.2f} bits/char" if val
                                   else "not validated yet"))
    except UserError:
        if not is_model:                             # --model notes.txt?
            raise UserError(f"--model {path} is not a model file, and "
                            f"training would replace it: pass --model a new "
                            f"name (--data is the text to train on)")
        held = "one this script cannot use"
    print(f"notice: {path} holds an earlier model ({held}); this run's "
          f"first save keeps it as {old}")
    return old


class Saver:
    """Saves the model, vocab.json, config.json and loss.svg at checkpoints
    and Ctrl-C (stop); samples to samples.txt; first moves an old model."""

    def __init__(self, s, model, vocab, run, old, resume_with):
        self.s, self.model, self.vocab, self.run = s, model, vocab, run
        self.old, self.saved, self.stop = old, False, []
        self.resume_with = resume_with
        self.chart = beside(s.model_path, "loss.svg")
        self.samples = beside(s.model_path, "samples.txt")
        self.mode = "a" if run.iteration else "w"   # --resume appends

    def after_update(self, at_checkpoint, sampled=None):
        if sampled is not None:
            self.write_sample(sampled)
        if self.stop:                               # Ctrl-C was pressed
            self.save()
            raise KeyboardInterrupt(
                f"\ninterrupted at iteration {self.run.iteration}; saved "
                f"{self.s.model_path}. Continue with:\n  {self.resume_with}")
        if at_checkpoint:
            self.save()

    def save(self):
        s, path = self.s, self.s.model_path
        if self.old and not self.saved and os.path.exists(path):
            try:                                    # never lose a model
                os.replace(path, self.old)
            except OSError as e:
                raise UserError(f"cannot keep the old {path} as {self.old}: "
                                f"{e.strerror}; move it yourself, or use "
                                f"--model NEW.json")
        self.saved = True
        config = {key: getattr(s, name) for key, name in CONFIG.items()}
        config["vocab_size"] = len(self.vocab)
        write_atomically(path, json.dumps(checkpoint_of(
            self.model, self.vocab, config, self.run), ensure_ascii=False))
        write_atomically(beside(path, "vocab.json"), json.dumps(
            self.vocab, ensure_ascii=False, indent=1) + "\n")
        write_atomically(beside(path, "config.json"),
                         json.dumps(config, indent=2) + "\n")
        write_atomically(self.chart, svg_chart(
            loss_series(self.run.history),
            f"{s.data_path}: {s.cell}, hidden {s.hidden_size}, sequence "
            f"{s.sequence_length}, learning rate {s.learning_rate}"))

    def write_sample(self, text):
        """Add a checkpoint's sample to samples.txt, under a heading."""
        run, val = self.run, (self.run.history["val"] or [[0, None]])[-1]
        heading = (f"--- iteration {run.iteration} | train "
                   f"{run.smooth_loss:.2f} bits/char | val " + (
                       f"{val[1]:.2f} " if val[0] == run.iteration else "- "))
        try:
            with open(self.samples, self.mode, encoding="utf-8") as f:
                f.write(f"{heading.ljust(79, '-')}\n{text}\n\n")
        except OSError as e:
            raise UserError(f"cannot write {self.samples}: {e.strerror}")
        self.mode = "a"

    def on_disk(self):
        """What a run that failed leaves in the model file."""
        path = self.s.model_path
        if self.saved or not self.old and os.path.exists(path):
            return f"the last good checkpoint in {path} is kept"
        return f"no checkpoint was written to {path}" + (
            ", which still holds the earlier model" if self.old else "")


def end_of_run(cmd, model, vocab, text, run, prime_ids, saver):
    """After training: the loss chart, the counting baseline, a sample at
    each temperature, and the copy check."""
    s, chart = cmd.s, saver.chart
    print(text_chart(loss_series(run.history)))
    print(f"saved {s.model_path}; loss chart: {chart}" + (
        f"; samples: {saver.samples}" if s.sample_length else ""))
    if in_ipython() and ("ipykernel" in sys.modules   # Jupyter, Colab
                         or sys.platform == "emscripten"):   # JupyterLite
        shown = sys.modules["IPython"].display    # loaded; never imported
        shown.display(shown.SVG(filename=chart))
    train_text, val_text = split_data(text, s.validation_fraction)
    if val_text:                                     # the yardstick
        print(counting_line(log_probs(model, encode(val_text, vocab)), vocab,
                            train_text, val_text, val_text,
                            "validation text", s)[0])
    if not s.sample_length:
        return
    rng = random.Random(s.seed + 1)           # not the checkpoints' stream
    for temperature in cmd.temperatures:
        sampled = generate(model, vocab, prime_ids, s.sample_length,
                           temperature, rng, s.top_k)
        print_sample(f"sample at temperature {temperature}", sampled)
    print("\n".join(copy_lines(sampled[len(prime_ids):], train_text)))


# --- main: the commands that read a model ------------------------------------

def run_generate(cmd):
    """--generate: the prime and its continuation, nothing else; several
    temperatures print one labelled sample each."""
    model, vocab, _, _ = load_model_for(cmd)
    s, rng = cmd.s, random.Random(cmd.s.seed)
    prime_ids = encode(cmd.args.generate, vocab, "--generate text",
                       s.model_path)
    for temperature in cmd.temperatures:
        if len(cmd.temperatures) > 1:
            print(f"--- temperature {temperature} ".ljust(79, "-"))
        print(generate(model, vocab, prime_ids, s.sample_length, temperature,
                       rng, s.top_k))


def run_predict(cmd):
    """--predict: the top 3 guesses for each next character of the text,
    then the average bits per character, and the n-gram's."""
    model, vocab, _, checkpoint = load_model_for(cmd)
    ids = encode(cmd.args.predict, vocab, "--predict text", cmd.s.model_path)
    logs = log_probs(model, ids)
    traces, _, probs = trace(model, ids)
    print("pos  char | top 3 next characters (probability)  | actual next")
    for t, (x, p) in enumerate(zip(ids, probs)):
        top = sorted(range(len(p)), key=lambda i: -p[i])[:3]
        guesses = "  ".join(f"{vocab[i]!r:>5} {p[i]:.3f}" for i in top)
        actual = "" if t + 1 == len(ids) else f"{vocab[ids[t + 1]]!r} " + (
            "in top 3" if ids[t + 1] in top else "missed")
        print(f"{t:>3} {vocab[x]!r:>5} | {guesses} | {actual}")
    if logs:
        print(f"average: {-sum(logs) / len(logs) / math.log(2):.2f} "
              f"bits/char over {len(logs)} predictions")
        yardstick(cmd, logs, vocab, checkpoint, cmd.args.predict,
                  "--predict text")


def run_gradient_flow(cmd):
    """--gradient-flow: the mean norm for each k, of --model (with the ratio
    to k = 0) or each --compare model; gradient_flow.svg, a line for each."""
    paths, many = cmd.args.compare or [cmd.s.model_path], cmd.args.compare
    series, columns, notes = [], [], []
    for k, path in enumerate(paths):
        model, vocab, _, ck = load_model(path) if many else load_model_for(cmd)
        means, positions, note = gradient_flow(
            model, vocab, cmd.args.gradient_flow, cmd.s.flow_steps,
            trained_length(ck), path)
        columns.append(means)
        notes.append(f"note: {path}: {note}" if many else f"note: {note}")
        name = f"{path} ({ck['cell']}, hidden {len(model.V[0])})"
        series.append((f"flow{k}", name, "*", PALETTE[k % len(PALETTE)][0],
                       [(j, math.log10(m)) for j, m in enumerate(means)
                        if 0 < m < math.inf]))           # 0: no gradient
    heads = paths if many else ["mean norm", "ratio to k=0"]
    if not many:
        columns.append([m / means[0] if means[0] else math.nan
                        for m in means])
    widths = [max(12, len(head) + 2) for head in heads]
    print(f"mean |d loss_t / d h_(t-k)| over {positions} positions of the "
          f"text", *notes, "   k" + "".join(head.rjust(width) for head, width
                                            in zip(heads, widths)), sep="\n")
    for k, row in enumerate(zip(*columns)):
        print(f"{k:>4}" + "".join(f"{v:>{w}.4g}" for v, w in zip(row, widths)))
    svg_path = beside(paths[0], "gradient_flow.svg")
    write_atomically(svg_path, svg_chart(
        series, "how far back the gradient reaches: mean |d loss_t / d "
        "h_(t-k)|", "k: steps back from the predicted character",
        "gradient norm (log scale)", lambda y: f"{10 ** y:.0e}", log=True))
    print(f"chart: {svg_path}")


def run_activations(cmd):
    """--activations: the best unit for each property and activations.html;
    how the gates saturate, and gates.svg."""
    model, vocab, _, _ = load_model_for(cmd)
    text, given, path = cmd.args.activations, cmd.args.units, cmd.s.model_path
    traces, gates, probs = trace(model, encode(text, vocab,
                                               "--activations text", path))
    units = units_to_show(traces, given)
    properties = text_properties(text)
    found = best_units(properties, traces)
    title = f"{path}: {cmd.s.cell}, hidden {cmd.s.hidden_size}: "
    tips = []                           # the model's top 3 next characters
    for p in probs:
        top = sorted(range(len(p)), key=lambda i: -p[i])[:3]
        tips.append("next: " + "  ".join(f"{vocab[i]!r} {p[i]:.2f}"
                                         for i in top))
    key = " ... ".join(f'<span style="{unit_style(v)}">{v:+g}</span>'
                       for v in (-1, 0, 1)).replace("+0", "0")
    page = beside(path, "activations.html")
    write_atomically(page, text_page(title + "single units", (
        f"Each row is the text, every character's background the value, "
        f"after reading it, of a property of the text or of one unit: {key} "
        f"(scaled to ±1 if it goes further). A negative r: the unit goes "
        f"down as the property goes up. Hover a character for the value and "
        f"the model's top 3 guesses for the next character."), text, tips,
        page_rows(properties, found, traces, units)))
    print(f"wrote {page}")
    print_found(found, len(text))
    print("units given with --units:" if given is not None else
          "units of h that change slowly (the correlation of each value "
          "with the next):")
    for name, u in units:
        values = [v[u] for v in traces[name]]
        step_r = pearson(values[:-1], values[1:]) if len(values) > 2 else None
        print(f"{name} {u}: from {min(values):+.3f} to {max(values):+.3f}, "
              f"with the next {'-' if step_r is None else f'{step_r:+.2f}'}")
    gate_saturation(model, traces["h"], gates,
                    beside(path, "gates.svg"), title + (
                        "how the gates saturate" if gates else
                        "how h saturates (no gates)"))


# --- main: where it runs, and the command line -------------------------------

def in_ipython():
    """True in Jupyter, Colab or IPython: a shell is running, not only
    IPython imported (as pytest may)."""
    ipython = sys.modules.get("IPython")
    return getattr(ipython, "get_ipython", lambda: None)() is not None


def hosted():
    """True inside another program with no process of its own to exit: a
    notebook, or a browser tab (Pyodide, JupyterLite: "emscripten")."""
    return in_ipython() or sys.platform == "emscripten"


def command_line():
    """sys.argv[1:], but [] in a notebook or browser tab (the host's argv),
    unless sys.argv[0] is this file: `%run rnn_from_scratch.py --flags`."""
    script = globals().get("__file__")
    if hosted() and not (script and os.path.basename(sys.argv[0])
                         == os.path.basename(script)):
        return []
    return sys.argv[1:]


def command_for(flags):
    """How to run this file with flags here: main([...]) in a notebook or a
    tab, else the interpreter as typed (or its name, if PATH finds it)."""
    if hosted():
        return f"main({flags!r})"
    typed = (getattr(sys, "orig_argv", None) or [sys.executable])[0]
    name = os.path.basename(typed or "python")
    with contextlib.suppress(OSError):              # pyenv runs a full path
        if os.path.samefile(shutil.which(name) or "", typed):
            typed = name
    script = sys.argv[0] if sys.argv[0].endswith(".py") else (
        "rnn_from_scratch.py")
    return shlex.join([typed or "python", script] + flags)


def resume_command(argv):
    """What to run to continue training with the same flags."""
    return command_for([a for a in argv if a != "--resume"] + ["--resume"])


VIEWS = {"--generate": run_generate, "--predict": run_predict,  # they read
         "--gradient-flow": run_gradient_flow,                  # a model,
         "--activations": run_activations,                      # not train
         "--evaluate": run_evaluate, "--compare": run_compare}


def main(argv=None):
    """Run argv (flags; default: the command line's); return the status."""
    argv = command_line() if argv is None else argv
    try:
        cmd = Command(argv)
        if cmd.args.check:              # its own problem: no data, no model
            cells = [cmd.s.cell] if "--cell" in cmd.typed else list(CELLS)
            return run_check(cells, sorted(cmd.typed - {"--check", "--cell"}))
        if cmd.args.exercise is not None:
            return run_exercise(cmd)
        if cmd.args.grade is not None:
            return run_grade(cmd)
        unused = sorted(cmd.typed & TRAINING_ONLY)
        if cmd.view and unused:         # to stderr: --generate's output is
            print(f"notice: {cmd.view} reads {cmd.s.model_path} and "  # text
                  f"ignores {', '.join(unused)}", file=sys.stderr)
        VIEWS.get(cmd.view, run_training)(cmd)
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
