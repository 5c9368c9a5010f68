# Modelled on: https://github.com/darksigma/Fundamentals-of-Deep-Learning-Book/issues/9 ("Missing
#   backpropagation method": the training cell calls zero_grad() and optimizer.step() but never
#   loss.backward(); the reader says the model "wasn't properly trained at all")
# Source: a mini-batch loop over a DataLoader with nn.MSELoss, Adam (lr 0.001), printing f"Epoch: ... Loss:"
#   once per epoch, for NUM_EPOCHS epochs.
# What differs: the linear assignment's y = 2x + 1 with x in [0, 10] in a TensorDataset; a one-layer model.
# Mistake named: loss.backward() is missing.
# corpus: assignment=linear expect=fail cause=no_backward
import torch
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset

x = torch.rand(500, 1) * 10
y = 2 * x + 1
trainloader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)

model = nn.Sequential(nn.Linear(1, 1))
loss_fn = nn.MSELoss()
optimizer = optim.Adam(model.parameters(), lr=0.001, betas=(0.9, 0.999), eps=1e-8)

NUM_EPOCHS = 20
for epoch in range(NUM_EPOCHS):
    for input, labels in trainloader:
        optimizer.zero_grad()
        output = model(input)
        loss = loss_fn(output, labels)
        optimizer.step()
    print(f"Epoch: {epoch} Loss: {loss}")
