using PcieVirt.Fabric;
using PcieVirt.Pci;

namespace PcieVirt.Tests.Fabric;

[TestFixture]
public class HostMemoryTests
{
    [Test]
    public void AccessSpanningPages_IsStoredSparsely()
    {
        var m = new HostMemory(0x10_0000);
        Assert.That(m.Write(0x0FFE, new byte[] { 1, 2, 3, 4 }), Is.True);
        Assert.That(m.AllocatedPages, Is.EqualTo(2));
        var back = new byte[4];
        Assert.That(m.Read(0x0FFE, back), Is.True);
        Assert.That(back, Is.EqualTo(new byte[] { 1, 2, 3, 4 }));
    }

    [TestCase(0x10_0000UL, 1)]
    [TestCase(0x0F_FFFFUL, 2)]
    [TestCase(ulong.MaxValue, 1)]
    public void AccessBeyondRam_IsRefused(ulong address, int length)
    {
        var m = new HostMemory(0x10_0000);
        Assert.That(m.Write(address, new byte[length]), Is.False);
        Assert.That(m.Read(address, new byte[length]), Is.False);
        Assert.That(m.AllocatedPages, Is.Zero);
    }
}

[TestFixture]
public class InterruptControllerTests
{
    [Test]
    public void CountsPerVector_AndKeepsRecentHistory()
    {
        var ic = new InterruptController();
        for (int i = 0; i < 70; i++)
            Assert.That(ic.Deliver(new Bdf(1, 0, 0), 0xFEE0_0000, BitConverter.GetBytes((uint)(0x20 + (i % 2)))), Is.True);
        Assert.That(ic.CountForVector(0x20), Is.EqualTo(35));
        Assert.That(ic.CountForVector(0x21), Is.EqualTo(35));
        var recent = ic.RecentMessages();
        Assert.That(recent, Has.Length.EqualTo(InterruptController.HistoryDepth));
        Assert.That(recent[^1].Vector, Is.EqualTo(0x21), "newest last");
        Assert.That(ic.LastMessage!.Value.Vector, Is.EqualTo(0x21));
    }

    [Test]
    public void UnalignedOrWrongSizedWrites_AreNotMessages()
    {
        var ic = new InterruptController();
        Assert.That(ic.Deliver(default, 0xFEE0_0002, new byte[4]), Is.False);
        Assert.That(ic.Deliver(default, 0xFEE0_0000, new byte[8]), Is.False);
        Assert.That(ic.TotalMessages, Is.Zero);
        Assert.That(ic.MalformedMessages, Is.EqualTo(2));
    }
}
