"""The three named alarm profiles of the issue, each with its temperature rule (edit them in the admin or
on the rules page; devices get a profile in the admin)."""

from django.db import migrations

PROFILES = [
    ("2–8 °C vaccines", "Refrigerated medicines and vaccines", 2.0, 8.0),
    ("−25 to −15 °C frozen", "Frozen products", -25.0, -15.0),
    ("15–25 °C ambient", "Controlled room temperature", 15.0, 25.0),
]


def create_profiles(apps, schema_editor):
    AlarmProfile = apps.get_model("monitoring", "AlarmProfile")
    AlarmRule = apps.get_model("monitoring", "AlarmRule")
    for name, description, low, high in PROFILES:
        profile, created = AlarmProfile.objects.get_or_create(name=name, defaults={"description": description})
        if created:
            AlarmRule.objects.create(
                name=name,
                profile=profile,
                quantity="temperature",
                low_limit=low,
                high_limit=high,
                delay_minutes=15,
                clear_margin=0.5,
                no_data_minutes=120,
                severity="alarm",
            )


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0006_excursion_roles_and_schedules")]
    operations = [migrations.RunPython(create_profiles, migrations.RunPython.noop)]
