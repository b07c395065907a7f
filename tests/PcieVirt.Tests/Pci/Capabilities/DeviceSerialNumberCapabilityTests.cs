using PcieVirt.Pci.Capabilities;

namespace PcieVirt.Tests.Pci.Capabilities;

[TestFixture]
public class DeviceSerialNumberCapabilityTests
{
    [Test]
    public void SerialNumber_LowerDwordFirst_ReadOnly()
    {
        var dsn = new DeviceSerialNumberCapability(0x0123_4567_89AB_CDEF);
        var f = Fn.Endpoint(new PciExpressCapability(), dsn);
        Assert.That(f.R(dsn.Offset, 4) & 0xFFFFF, Is.EqualTo(0x10003u));
        Assert.That(f.R(dsn.Offset + 4, 4), Is.EqualTo(0x89AB_CDEFu));
        Assert.That(f.R(dsn.Offset + 8, 4), Is.EqualTo(0x0123_4567u));
        f.W(dsn.Offset + 4, 4, 0);
        f.W(dsn.Offset + 8, 4, 0);
        Assert.That(f.R(dsn.Offset + 4, 4), Is.EqualTo(0x89AB_CDEFu));
        Assert.That(f.R(dsn.Offset + 8, 4), Is.EqualTo(0x0123_4567u));
    }
}
