# The Stream model moved here from the project package (`marketstream`) without touching
# its table: this migration only adds the model to this app's state (its table,
# `marketstream_stream`, made by marketstream's migrations 0001-0003, keeps every row), and
# moves the model's content type along, so that permissions and admin history stay with it.
# `marketstream.0004_stream_moved_to_streams` then drops the model from that app's state.

from django.db import migrations, models


def move_content_type(apps, schema_editor):
    """marketstream.stream's content type becomes streams.stream (same id: permissions
    granted and admin log entries follow the model). A new database has none yet."""
    content_types = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    if not content_types.objects.using(db).filter(app_label="streams", model="stream").exists():
        content_types.objects.using(db).filter(app_label="marketstream", model="stream").update(
            app_label="streams"
        )


def move_content_type_back(apps, schema_editor):
    content_types = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    if not content_types.objects.using(db).filter(app_label="marketstream", model="stream").exists():
        content_types.objects.using(db).filter(app_label="streams", model="stream").update(
            app_label="marketstream"
        )


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('marketstream', '0003_stream_state_handed_over'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Stream',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('key', models.CharField(max_length=2000, unique=True)),
                        ('kind', models.CharField(default='market_feed', help_text='connection kind', max_length=32)),
                        ('screener_type', models.CharField(blank=True, max_length=16)),
                        ('instruments', models.JSONField(default=list, help_text='instrument keys, SEG:SID')),
                        ('mode', models.CharField(default='quote', max_length=8)),
                        ('desired_state', models.CharField(choices=[('running', 'Running'), ('stopped', 'Stopped')], default='running', max_length=8)),
                        ('state', models.CharField(choices=[('starting', 'Starting'), ('running', 'Running'), ('reconnecting', 'Reconnecting'), ('stopped', 'Stopped'), ('market_closed', 'Market closed'), ('error', 'Error'), ('handed_over', 'Handed over')], default='stopped', max_length=16)),
                        ('worker_host', models.CharField(blank=True, max_length=255)),
                        ('worker_pid', models.PositiveIntegerField(blank=True, null=True)),
                        ('started_at', models.DateTimeField(blank=True, null=True)),
                        ('last_heartbeat', models.DateTimeField(blank=True, null=True)),
                        ('last_tick_at', models.DateTimeField(blank=True, null=True)),
                        ('ticks_received', models.PositiveBigIntegerField(default=0)),
                        ('reconnects', models.PositiveIntegerField(default=0)),
                        ('malformed_frames', models.PositiveBigIntegerField(default=0)),
                        ('last_error', models.TextField(blank=True, help_text='never contains the access token')),
                        ('stopped_reason', models.CharField(blank=True, max_length=200)),
                        ('generation', models.PositiveIntegerField(default=0)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                    ],
                    options={
                        'db_table': 'marketstream_stream',
                        'ordering': ['key'],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_type, move_content_type_back),
    ]
