"""LTI 1.3 (LTI Advantage), the tool side: launches from an LMS, deep linking, grade passback (AGS),
roster sync (NRPS), on pylti1p3 (the pylti1p3next fork) with the configuration in the database.
"""
