"""The textbook RNN, written as plainly as possible: full one-hot input
vectors, nested index loops and sums over generator expressions.

It is slow on purpose. The tests use it as an independent oracle for the
vanilla RNN in rnn_from_scratch.py, and tests/benchmark.py uses it as the
baseline that the original list-based script's cost stands for.
"""

import math


def loss_and_gradients(U, W, V, b, c, inputs, targets, h_prev):
    """Same contract as rnn_from_scratch.RNN.loss_and_gradients."""
    H, K = len(W), len(c)
    xs, hs, ps = {}, {-1: list(h_prev)}, {}
    loss = 0.0
    for t in range(len(inputs)):
        xs[t] = [0.0] * K
        xs[t][inputs[t]] = 1.0
        hs[t] = [math.tanh(sum(U[i][j] * xs[t][j] for j in range(K))
                           + sum(W[i][j] * hs[t - 1][j] for j in range(H))
                           + b[i]) for i in range(H)]
        o = [sum(V[k][j] * hs[t][j] for j in range(H)) + c[k] for k in range(K)]
        exps = [math.exp(o[k] - max(o)) for k in range(K)]
        ps[t] = [exps[k] / sum(exps) for k in range(K)]
        loss += -math.log(ps[t][targets[t]])

    dU = [[0.0] * K for _ in range(H)]
    dW = [[0.0] * H for _ in range(H)]
    dV = [[0.0] * H for _ in range(K)]
    db, dc = [0.0] * H, [0.0] * K
    dh_next = [0.0] * H
    for t in reversed(range(len(inputs))):
        dy = [ps[t][k] - (1.0 if k == targets[t] else 0.0) for k in range(K)]
        for k in range(K):
            for j in range(H):
                dV[k][j] += dy[k] * hs[t][j]
            dc[k] += dy[k]
        dh = [sum(V[k][j] * dy[k] for k in range(K)) + dh_next[j]
              for j in range(H)]
        dh_raw = [(1.0 - hs[t][j] ** 2) * dh[j] for j in range(H)]
        for i in range(H):
            db[i] += dh_raw[i]
            for j in range(K):
                dU[i][j] += dh_raw[i] * xs[t][j]
            for j in range(H):
                dW[i][j] += dh_raw[i] * hs[t - 1][j]
        dh_next = [sum(W[i][j] * dh_raw[i] for i in range(H)) for j in range(H)]
    grads = {"U": dU, "W": dW, "V": dV, "b": db, "c": dc}
    return loss, grads, hs[len(inputs) - 1]


def adagrad_update(params, memory, grads, learning_rate):
    """Clip each entry to [-5, 5], then Adagrad, one index at a time.
    params, memory, grads: dicts of matrices or vectors, changed in place."""
    for name in params:
        p, m, g = params[name], memory[name], grads[name]
        if not isinstance(p[0], list):
            p, m, g = [p], [m], [g]
        for i in range(len(p)):
            for j in range(len(p[i])):
                clipped = max(-5.0, min(5.0, g[i][j]))
                m[i][j] += clipped * clipped
                p[i][j] -= learning_rate * clipped / math.sqrt(m[i][j] + 1e-8)
