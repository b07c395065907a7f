using PcieVirt.Fabric;
using PcieVirt.Hypervisor.Memory;
using PcieVirt.Tests.Support;

namespace PcieVirt.Tests.Hypervisor.Memory;

/// <summary>Guest-physical memory through the EPT onto host RAM.</summary>
[TestFixture]
public class GuestPhysicalMemoryTests
{
    const ulong Page = 4096;

    static byte[] Bytes(int n, int seed) => Enumerable.Range(0, n).Select(i => (byte)(i * 7 + seed)).ToArray();

    [Test]
    public void CreateFlat_MapsGuestZeroOntoTheHostBase()
    {
        var host = new HostMemory(0x100_0000);
        var guest = GuestPhysicalMemory.CreateFlat(host, 0x40_0000, 0x10_0000, out var ept);
        Assert.That(guest.Write(0x1230, new byte[] { 1, 2, 3 }), Is.True);
        var back = new byte[3];
        Assert.That(host.Read(0x40_1230, back), Is.True);
        Assert.That(back, Is.EqualTo(new byte[] { 1, 2, 3 }));
        Assert.That(guest.TryGetHostAddress(0xF_FFFF, out ulong hpa), Is.True);
        Assert.That(hpa, Is.EqualTo(0x4F_FFFFUL));
        Assert.That(guest.TryGetHostAddress(0x10_0000, out _), Is.False, "past the guest's RAM");
        Assert.That(ept.MappedPages, Is.EqualTo(256));
        Assert.Throws<ArgumentException>(() => GuestPhysicalMemory.CreateFlat(host, 0xF0_0000, 0x20_0000, out _), "beyond host RAM");
    }

    [Test]
    public void Access_SplitsAtPages_FollowingNonContiguousHostFrames()
    {
        var host = new HostMemory(0x100_0000);
        var ept = new Ept();
        // Guest pages 0 and 1 are backed by host frames in reverse order.
        ept.MapRam(0, 0x20_1000, Page);
        ept.MapRam(Page, 0x20_0000, Page);
        var guest = new GuestPhysicalMemory(ept, host);
        var data = Bytes(256, 3);
        Assert.That(guest.Write(Page - 100, data), Is.True);
        var lo = new byte[100];
        var hi = new byte[156];
        host.Read(0x20_1000 + Page - 100, lo);
        host.Read(0x20_0000, hi);
        Assert.That(lo.Concat(hi), Is.EqualTo(data));
        var back = new byte[256];
        Assert.That(guest.Read(Page - 100, back), Is.True);
        Assert.That(back, Is.EqualTo(data));
    }

    [Test]
    public void AccessTouchingAHole_FailsWhole_AndChangesNothing()
    {
        var host = new HostMemory(0x100_0000);
        var ept = new Ept();
        ept.MapRam(0, 0x10_0000, Page);
        ept.MapRam(2 * Page, 0x10_2000, Page); // page 1 is a hole
        var guest = new GuestPhysicalMemory(ept, host);
        Assert.That(guest.Contains(0, (int)Page), Is.True);
        Assert.That(guest.Contains(Page - 1, 2), Is.False);
        Assert.That(guest.Write(Page - 8, Bytes(16, 1)), Is.False);
        var untouched = new byte[8];
        host.Read(0x10_0000 + Page - 8, untouched);
        Assert.That(untouched, Is.All.Zero, "the part before the hole was not written either");
        var buf = Enumerable.Repeat((byte)0xAA, 16).ToArray();
        Assert.That(guest.Read(Page - 8, buf), Is.False);
        Assert.That(buf, Is.All.EqualTo(0xAA), "a failed read leaves the buffer as it was");
    }

    [Test]
    public void MmioAndReadOnlyPages_AreNotWritableMemory()
    {
        var host = new HostMemory(0x100_0000);
        var ept = new Ept();
        ept.MapRam(0, 0x10_0000, Page, writable: false);
        ept.MapMmioPassthrough(Page, 0x20_0000, Page);
        ept.MapMmioTrap(2 * Page, Page, "dev");
        var guest = new GuestPhysicalMemory(ept, host);
        var b = new byte[4];
        Assert.That(guest.Read(0, b), Is.True, "read-only RAM reads");
        Assert.That(guest.Write(0, b), Is.False, "but is not written");
        Assert.That(guest.Read(Page, b), Is.False, "pass-through MMIO is not RAM");
        Assert.That(guest.Read(2 * Page, b), Is.False, "trap MMIO is not RAM");
        Assert.That(guest.TryGetHostAddress(Page, out _), Is.False);
        Assert.That(ept.Translations, Is.Zero, "the hypervisor's own accesses are not counted as guest translations");
    }

    [Test]
    public void ReadWrite_AllocateNothing()
    {
        var host = new HostMemory(0x100_0000);
        var guest = GuestPhysicalMemory.CreateFlat(host, 0x10_0000, 0x10_0000, out _);
        var buf = new byte[512];
        guest.Write(0xF00, buf); // host pages created up front
        long bytes = Allocations.SteadyState(() =>
        {
            for (int i = 0; i < 100; i++)
            {
                guest.Write(0xF00, buf);
                guest.Read(0xF00, buf);
            }
        });
        Assert.That(bytes, Is.Zero);
    }
}
