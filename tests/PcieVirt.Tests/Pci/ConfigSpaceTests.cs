using PcieVirt.Pci.Config;

namespace PcieVirt.Tests.Pci;

[TestFixture]
public class ConfigSpaceTests
{
    [Test]
    public void Write_OnlyChangesWritableBits()
    {
        var cs = new ConfigSpace();
        cs.Define(0x10, 4, 0x0000_000C, writableMask: 0xFFFF_C000);
        cs.Write(0x10, 4, 0xFFFF_FFFF);
        Assert.That(cs.Read32(0x10), Is.EqualTo(0xFFFF_C00Cu), "sizing: size mask with type bits intact");
    }

    [Test]
    public void Write1ToClear_ClearsOnlyBitsWrittenAsOne()
    {
        var cs = new ConfigSpace();
        cs.Define(0x06, 2, 0, w1cMask: 0xF900);
        cs.SetRaw(0x06, 2, 0x3010); // hardware sets two error bits; bit 4 is read-only
        cs.Write(0x06, 2, 0x1000);
        Assert.That(cs.Read16(0x06), Is.EqualTo(0x2010));
        cs.Write(0x06, 2, 0x0000);
        Assert.That(cs.Read16(0x06), Is.EqualTo(0x2010), "writing 0 leaves RW1C bits alone");
    }

    [Test]
    public void DwordAccess_SpansTwoRegisters()
    {
        var cs = new ConfigSpace();
        cs.Define(0x04, 2, 0, writableMask: 0x0407);
        cs.Define(0x06, 2, 0x0010, w1cMask: 0xF900);
        cs.SetRaw(0x06, 2, 0x2010);
        cs.Write(0x04, 4, 0x2000_0006);
        Assert.That(cs.Read32(0x04), Is.EqualTo(0x0010_0006u));
    }

    [Test]
    public void Reset_KeepsStickyBitsOnly()
    {
        var cs = new ConfigSpace();
        cs.Define(0x104, 4, 0, writableMask: 0xFF, stickyMask: 0x0F);
        cs.Write(0x104, 4, 0xAB);
        cs.Reset();
        Assert.That(cs.Read32(0x104), Is.EqualTo(0x0Bu));
        cs.Reset(includeSticky: true);
        Assert.That(cs.Read32(0x104), Is.EqualTo(0u));
    }

    [TestCase(0x01, 2)]
    [TestCase(0x02, 4)]
    [TestCase(0x0FFE, 4)]
    [TestCase(0x00, 3)]
    public void MisalignedAccess_IsRejected(int offset, int width)
    {
        var cs = new ConfigSpace();
        Assert.Throws<ConfigAccessException>(() => cs.Read(offset, width));
    }
}
