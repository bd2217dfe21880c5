"""The demo gives each simulated device the alarm profile of what it is: a freezer sits inside its own
limits at -20 °C, a store room at 20 °C, instead of a week-long excursion against 2-8 °C."""

from __future__ import annotations

from monitoring.models import Device
from tests.factories import make_account
from vendors.management.commands.demo import assign_demo_profiles


def test_each_demo_device_gets_the_profile_of_what_it_is(db):
    thingsee = make_account(slug="thingsee", name="Demo Thingsee")
    trackgps = make_account(slug="trackgps", name="Demo TrackGPS")
    # Thingsee names its sensors by their id: nothing in the name says "freezer".
    for account, vendor_id in [
        (thingsee, "XXXX03X2Z74162947"),  # a freezer
        (thingsee, "XXXX04X1N73261481"),  # an ambient room
        (thingsee, "XXXX03X2Z74163012"),  # a lab fridge
        (trackgps, "1004"),  # a freezer van
        (trackgps, "1001"),  # a reefer truck
    ]:
        Device.objects.create(account=account, vendor_id=vendor_id, name=vendor_id)
    other = make_account(slug="thingsee", name="Customer Thingsee")
    Device.objects.create(account=other, vendor_id="XXXX03X2Z74162947-b", name="Not a demo device")
    assign_demo_profiles()
    profiles = dict(Device.objects.values_list("vendor_id", "alarm_profile__name"))
    assert profiles == {
        "XXXX03X2Z74162947": "−25 to −15 °C frozen",
        "XXXX04X1N73261481": "15–25 °C ambient",
        "XXXX03X2Z74163012": "2–8 °C vaccines",
        "1004": "−25 to −15 °C frozen",
        "1001": "2–8 °C vaccines",
        "XXXX03X2Z74162947-b": None,
    }
