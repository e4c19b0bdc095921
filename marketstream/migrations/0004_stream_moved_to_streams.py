# The Stream model now lives in the `streams` app (`streams.0001_initial` took it over with
# its table, `marketstream_stream`, and every row): drop it from this app's state only.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('marketstream', '0003_stream_state_handed_over'),
        ('streams', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='Stream')],
            database_operations=[],
        ),
    ]
