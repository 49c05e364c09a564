"""Beneficiaries of the clauses (personal data) and their eligibility."""
