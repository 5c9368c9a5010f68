# Modelled on: https://cnblogs.com/Charlene-HRI/p/9469068.html (a network built for a fixed batch size,
#   reshaping with view(batch_size, -1)) and https://github.com/LianpoWang/ICDICNet/issues/33 (reshape with
#   opt.batchSize "can fail for the last mini-batch or ... a different batch size at inference time"; use
#   x.size(0))
# Source: forward() reshapes its input with the training batch size, so any other number of rows fails.
# What differs: the three rings; batches of exactly 64 drawn at random in training, which works.
# Mistake the issue names: the batch size is hard-coded in forward(); use x.size(0). Here the message the
#   student gets is the model's own exception, from a run on public inputs after training.
# corpus: assignment=concentric-circles expect=verdict:bad_predictions message=mat1_and_mat2_shapes_cannot_be_multiplied
import torch
import torch.nn as nn
from gradekit import load_training_data

BATCH_SIZE = 64
X, y = load_training_data()


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(2, 32)
        self.fc2 = nn.Linear(32, 3)

    def forward(self, x):
        x = x.view(BATCH_SIZE, -1)
        return self.fc2(torch.relu(self.fc1(x)))


net = Net()
optimizer = torch.optim.Adam(net.parameters(), lr=0.01)
loss_fn = nn.CrossEntropyLoss()
for step in range(600):
    idx = torch.randint(0, len(X), (BATCH_SIZE,))
    optimizer.zero_grad()
    loss = loss_fn(net(X[idx]), y[idx])
    loss.backward()
    optimizer.step()
