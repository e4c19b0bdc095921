# ApiToken moved to accounts (accounts/migrations/0002_apitoken.py takes it into its state).
# The table is renamed, not copied: every token, its id and its user stay as they were.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0003_attempts_help_text"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.AlterModelTable(name="apitoken", table="accounts_apitoken"),
            ],
            state_operations=[
                migrations.DeleteModel(name="ApiToken"),
            ],
        ),
    ]
