using PcieVirt.Pci.Config;

namespace PcieVirt.Tests.Pci.Sriov;

/// <summary>
/// The VFs of one PF share one config layout (masks, reset values, observer slots) copy-on-write,
/// while each keeps its own register bytes.
/// </summary>
[TestFixture]
public class VfLayoutSharingTests
{
    static PfFixture Enable(int numVfs, ushort totalVfs = 64)
    {
        var pf = new PfFixture(PfFixture.DefaultOptions(totalVfs), ari: true);
        pf.SetNumVfs(numVfs);
        pf.Control(Reg.VfEnable | Reg.VfMse);
        return pf;
    }

    [Test]
    public void EnabledVfs_ShareTheFirstVfsLayout()
    {
        var vfs = Enable(16).Sriov.VirtualFunctions;
        Assert.That(vfs, Has.Count.EqualTo(16));
        Assert.That(vfs.Skip(1).All(v => v.Config.SharesLayout), Is.True);
        Assert.That(vfs[0].Config.SharesLayout, Is.True, "the prototype is marked shared once adopted");
    }

    [Test]
    public void WriteToOneVf_LeavesTheOthersRegistersAlone()
    {
        var vfs = Enable(4).Sriov.VirtualFunctions;
        vfs[1].Config.Write(PciRegs.Command, 2, (uint)PciCommand.BusMaster);
        Assert.Multiple(() =>
        {
            Assert.That(vfs[1].Config.Read16(PciRegs.Command), Is.EqualTo((ushort)PciCommand.BusMaster));
            Assert.That(vfs[0].Config.Read16(PciRegs.Command), Is.Zero);
            Assert.That(vfs[2].Config.Read16(PciRegs.Command), Is.Zero);
        });
    }

    [Test]
    public void ChangingOneVfsMask_CopiesItsLayoutFirst()
    {
        var vfs = Enable(3).Sriov.VirtualFunctions;
        vfs[2].Config.SetWritableMask(PciRegs.InterruptLine, 1, 0xFF);
        Assert.Multiple(() =>
        {
            Assert.That(vfs[2].Config.SharesLayout, Is.False);
            Assert.That(vfs[2].Config.WritableMask(PciRegs.InterruptLine, 1), Is.EqualTo(0xFFu));
            Assert.That(vfs[0].Config.WritableMask(PciRegs.InterruptLine, 1), Is.Zero, "VFs hardwire Interrupt Line to 0");
            Assert.That(vfs[1].Config.WritableMask(PciRegs.InterruptLine, 1), Is.Zero);
        });
    }

    [Test]
    public void ObserversStayPerVf_WhenTheLayoutIsShared()
    {
        // Initiate FLR through VF 2's own PCIe capability: only VF 2 is reset.
        var vfs = Enable(3).Sriov.VirtualFunctions;
        foreach (var vf in vfs) vf.Config.Write(PciRegs.Command, 2, (uint)PciCommand.BusMaster);
        var exp = vfs[1].FindCapability<PcieVirt.Pci.Capabilities.PciExpressCapability>()!;
        vfs[1].Config.Write(exp.Offset + 8, 2, 0x8000);
        Assert.Multiple(() =>
        {
            Assert.That(vfs[1].Config.Read16(PciRegs.Command), Is.Zero, "FLR cleared VF 2");
            Assert.That(vfs[0].Config.Read16(PciRegs.Command), Is.EqualTo((ushort)PciCommand.BusMaster));
            Assert.That(vfs[2].Config.Read16(PciRegs.Command), Is.EqualTo((ushort)PciCommand.BusMaster));
        });
    }

    [Test]
    public void IdleVf_CostsAtMostTenKiBOfManagedMemory()
    {
        // Issue 3's budget. Measured as retained heap after a full collection, not as allocation.
        var keep = new PfFixture(PfFixture.DefaultOptions(256), ari: true);
        long before = GC.GetTotalMemory(forceFullCollection: true);
        keep.SetNumVfs(256);
        keep.Control(Reg.VfEnable | Reg.VfMse);
        long after = GC.GetTotalMemory(forceFullCollection: true);
        double perVf = (after - before) / 256.0;
        TestContext.Out.WriteLine($"{perVf:F0} bytes per idle VF");
        Assert.That(keep.Sriov.VirtualFunctions, Has.Count.EqualTo(256));
        Assert.That(perVf, Is.LessThanOrEqualTo(10 * 1024));
    }
}
