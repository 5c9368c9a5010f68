"""Teams: an assignment done in groups; a team's submissions, limits and grade are its members'."""
