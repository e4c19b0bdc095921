from django.db import migrations


def install(apps, schema_editor):
    from screeners.catalog import install_shipped

    install_shipped(apps.get_model("screeners", "Screen"))


class Migration(migrations.Migration):
    dependencies = [("screeners", "0002_screens")]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
