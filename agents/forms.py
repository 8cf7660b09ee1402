"""The Forge form: which agent, which tier (optional), what prompt."""

from __future__ import annotations

from django import forms

from providers.tiers import TIERS

from .catalog import AGENTS

MAX_PROMPT = 8000


class ForgeForm(forms.Form):
    agent = forms.ChoiceField(choices=[(a.name, a.title) for a in AGENTS.values()], widget=forms.RadioSelect)
    tier = forms.ChoiceField(
        choices=[("", "Agent's default")] + [(t, t.capitalize()) for t in TIERS],
        required=False,
        help_text="Fast is cheapest; premium is the most capable model your providers offer.",
    )
    prompt = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}),
        max_length=MAX_PROMPT,
        strip=True,
        error_messages={"required": "Say what the agent should work on."},
    )
    fresh = forms.BooleanField(
        required=False,
        label="Fresh answer",
        help_text="Ask the model again even when this exact question was answered before.",
    )
