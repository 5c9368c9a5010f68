# Modelled on: https://discuss.pytorch.org/t/96648 (ptrblck's reply: inputs spanning thousands train once
#   they are standardised; here inside the model, as the assignment asks) and
#   https://github.com/MorvanZhou/PyTorch-Tutorial/blob/4e5122c3734dcdc9ace164c2a87fbd412ca1d431/tutorial-contents/301_regression.py
#   (a small Net class with F.relu in forward, SGD/Adam, full-batch steps)
# Source: a regression over inputs spanning decades, made trainable by logarithms and standardisation.
# What differs: the pipe-friction factor; log10 of both inputs standardised with buffers in forward(), the
#   target learnt as its logarithm and returned through torch.exp.
# Mistake: none.
# corpus: assignment=pipe-friction expect=pass
import torch
import torch.nn as nn
import torch.nn.functional as F
from gradekit import load_training_data

x, y = load_training_data()


class Net(nn.Module):
    def __init__(self, n_hidden=32):
        super().__init__()
        logs = torch.log10(x)
        self.register_buffer("mu", logs.mean(0))
        self.register_buffer("sd", logs.std(0))
        self.hidden = nn.Linear(2, n_hidden)
        self.hidden2 = nn.Linear(n_hidden, n_hidden)
        self.predict = nn.Linear(n_hidden, 1)

    def forward(self, x):
        x = (torch.log10(x) - self.mu) / self.sd
        x = torch.tanh(self.hidden(x))
        x = torch.tanh(self.hidden2(x))
        return torch.exp(self.predict(x))


net = Net()
optimizer = torch.optim.Adam(net.parameters(), lr=5e-3)
for t in range(3000):
    prediction = net(x).squeeze(1)
    loss = F.mse_loss(torch.log(prediction), torch.log(y))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
