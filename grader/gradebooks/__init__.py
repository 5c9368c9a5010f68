"""Grades as the class and other systems see them: the scoreboard, the leaderboard, the LMS
gradebook files and the Gradescope export."""
