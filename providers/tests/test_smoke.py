import pytest
from django.db import IntegrityError

from providers.models import ProviderCredential


@pytest.mark.django_db
def test_check_constraint_rejects_unknown_provider(django_user_model):
    user = django_user_model.objects.create_user("alice", password="pw-alice-123")
    with pytest.raises(IntegrityError):
        ProviderCredential.objects.create(owner=user, provider="cohere")
