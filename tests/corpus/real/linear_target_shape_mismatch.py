# Modelled on: https://discuss.pytorch.org/t/output-of-the-model-depends-on-the-shape-of-the-weights-tensor/148155
#   (the same question on Stack Overflow, 6496401, answered: (out - y)^2 becomes (1024, 1024))
# Source: X = torch.rand((1024, 3)); y = X[:, 0] + X[:, 1] + X[:, 2] (shape [1024]); m = Seq(Lin(3, 1)),
#   SGD at lr 10e-2, nn.MSELoss(), 500 full-batch epochs printing loss.item() every 20 epochs; the loss
#   stalls. ptrblck: "you will get a warning, which you seem to ignore"; fix: mse(out, y.unsqueeze(1)).
# What differs: one input, y = 2x + 1 on x in [0, 10], with bias (the assignment's line); the source's
#   ReduceLROnPlateau(verbose=True) is left out (torch 2.13 refuses verbose; see heat_plateau_scheduler_verbose).
# Mistake the reply names: predictions [N, 1] against targets [N] broadcast to [N, N].
# corpus: assignment=linear expect=fail cause=broadcast_shapes
import torch
from torch import nn
from torch.nn import Linear as Lin
from torch.nn import Sequential as Seq

X = torch.rand((1024, 1)) * 10
y = 2 * X[:, 0] + 1

m = Seq(Lin(1, 1))
optim = torch.optim.SGD(m.parameters(), lr=10e-3)
mse = nn.MSELoss()
for epoch in range(500):
    optim.zero_grad()
    out = m(X)
    loss = mse(out, y)
    loss.backward()
    optim.step()
    if epoch % 20 == 0:
        print(loss.item())
