import torch
import torch.nn as nn
from gradekit import load_training_data, submit

x_train, y_train = load_training_data()   # columns x1..x5; target y
y_train = y_train.unsqueeze(1)
FLOOR = 1.0   # graded on |pred - y| / max(|y|, 1)

# The inputs go from 1e-6 to 5e4 and most of them span decades: the network
# sees their logarithms, standardised.  The target changes sign and its size
# goes from about 1e-3 to 1e5, so the network predicts asinh(y / 10)
# (standardised): linear near 0, logarithmic for large |y|.
log_x = torch.log(x_train)
t = torch.asinh(y_train / 10.0)


class Surrogate(nn.Module):
    def __init__(self, x_mean, x_std, t_mean, t_std):
        super().__init__()
        self.register_buffer("x_mean", x_mean)
        self.register_buffer("x_std", x_std)
        self.register_buffer("t_mean", t_mean)
        self.register_buffer("t_std", t_std)
        self.net = nn.Sequential(
            nn.Linear(5, 64), nn.GELU(),
            nn.Linear(64, 64), nn.GELU(),
            nn.Linear(64, 64), nn.GELU(),
            nn.Linear(64, 1),
        )

    def forward(self, x):
        z = (torch.log(x) - self.x_mean) / self.x_std
        t = self.net(z) * self.t_std + self.t_mean
        return 10.0 * torch.sinh(t.clamp(-20.0, 20.0))   # clamp: sinh overflows past ~89


model = Surrogate(log_x.mean(0), log_x.std(0), t.mean(0), t.std(0))

epochs, batch_size = 300, 256
optimizer = torch.optim.Adam(model.parameters(), lr=2e-2)
steps = epochs * ((len(x_train) + batch_size - 1) // batch_size)
scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)

for epoch in range(epochs):
    perm = torch.randperm(len(x_train))
    for i in range(0, len(x_train), batch_size):
        idx = perm[i:i + batch_size]
        pred = model(x_train[idx])
        # train on what is graded: the relative error
        loss = ((pred - y_train[idx]).abs() / y_train[idx].abs().clamp(min=FLOOR)).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
    if epoch % 50 == 0:
        print(f"epoch {epoch}: mean relative error {loss.item():.4f}")

submit(model)
