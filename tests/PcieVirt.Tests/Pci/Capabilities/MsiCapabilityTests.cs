using PcieVirt.Pci;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Config;

namespace PcieVirt.Tests.Pci.Capabilities;

[TestFixture]
public class MsiCapabilityTests
{
    RecordingUpstream _up = null!;

    [SetUp]
    public void SetUp() => _up = new RecordingUpstream();

    MsiCapability Make(MsiOptions o)
    {
        var msi = new MsiCapability(o);
        var f = Fn.Endpoint(msi);
        f.Upstream = _up;
        f.EnableBusMaster();
        return msi;
    }

    /// <summary>Programs address/data and MSI Enable with Multiple Message Enable = log2(vectors).</summary>
    static void Program(MsiCapability msi, ulong address, ushort data, int mme)
    {
        var f = msi.Function;
        int at = msi.Offset;
        f.W(at + 4, 4, (uint)address);
        int dataAt = msi.Options.Address64 ? 0x0C : 0x08;
        if (msi.Options.Address64) f.W(at + 8, 4, (uint)(address >> 32));
        f.W(at + dataAt, 2, data);
        f.W(at + 2, 2, (uint)(mme << 4) | 1);
    }

    [TestCase(false, false, 0x0C)]
    [TestCase(true, false, 0x10)]
    [TestCase(false, true, 0x14)]
    [TestCase(true, true, 0x18)]
    public void Length_FollowsAddressSizeAndMasking(bool a64, bool masking, int length) =>
        Assert.That(new MsiCapability(new() { Address64 = a64, PerVectorMasking = masking }).Length, Is.EqualTo(length));

    [Test]
    public void MessageControl_ReadOnlyFieldsIgnoreWrites()
    {
        var msi = Make(new() { VectorsRequested = 8, Address64 = true, PerVectorMasking = true });
        int at = msi.Offset;
        uint before = msi.Function.R(at + 2, 2);
        Assert.That(before, Is.EqualTo(3u << 1 | 1u << 7 | 1u << 8), "MMC=8 vectors, 64-bit, per-vector masking");
        msi.Function.W(at + 2, 2, 0xFF8E);
        Assert.That(msi.Function.R(at + 2, 2), Is.EqualTo(before), "MMC, 64-bit and PVM bits are RO; enable bits written 0");
    }

    [Test]
    public void MessageAddress_LowTwoBitsReadZero()
    {
        var msi = Make(new());
        msi.Function.W(msi.Offset + 4, 4, 0xFEE0_0003);
        Assert.That(msi.Function.R(msi.Offset + 4, 4), Is.EqualTo(0xFEE0_0000u));
    }

    [Test]
    public void MultipleMessageEnable_LargerThanCapable_IsClampedToCapable()
    {
        var msi = Make(new() { VectorsRequested = 4 });
        msi.Function.W(msi.Offset + 2, 2, 5 << 4);
        Assert.That((msi.Function.R(msi.Offset + 2, 2) >> 4) & 7, Is.EqualTo(2u));
        Assert.That(msi.VectorsAllocated, Is.EqualTo(4));
    }

    [Test]
    public void Trigger_Disabled_SendsNothing()
    {
        var msi = Make(new() { PerVectorMasking = true });
        Assert.That(msi.Trigger(0), Is.False);
        Assert.That(_up.Writes, Is.Empty);
        Assert.That(msi.IsPending(0), Is.False);
    }

    [Test]
    public void Trigger_Enabled_WritesDataWithVectorInLowBits()
    {
        var msi = Make(new() { VectorsRequested = 8 });
        Program(msi, 0x1_FEE0_1000, 0x4320, mme: 3);
        Assert.That(msi.Trigger(5), Is.True);
        Assert.That(_up.Writes, Has.Count.EqualTo(1));
        var w = _up.Writes[0];
        Assert.That(w.Requester, Is.EqualTo(new Bdf(1, 0, 0)));
        Assert.That(w.Address, Is.EqualTo(0x1_FEE0_1000UL));
        Assert.That(w.Data, Is.EqualTo(0x4325u), "low 3 bits replaced by the vector number; upper 16 bits zero");
        Assert.That(w.Length, Is.EqualTo(4), "one DWORD write");
    }

    [Test]
    public void Trigger_FewerVectorsAllocated_FoldsVectorIntoAllocation()
    {
        var msi = Make(new() { VectorsRequested = 8 });
        Program(msi, 0xFEE0_0000, 0x4320, mme: 1); // 2 vectors allocated
        msi.Trigger(5);
        Assert.That(_up.Writes[0].Data, Is.EqualTo(0x4321u), "only bit 0 may be modified");
    }

    [Test]
    public void Trigger_32BitAddressCapability_UsesLowAddressOnly()
    {
        var msi = Make(new() { Address64 = false });
        Program(msi, 0xFEE0_0000, 0x41, mme: 0);
        msi.Trigger(0);
        Assert.That(_up.Writes[0].Address, Is.EqualTo(0xFEE0_0000UL));
        Assert.That(_up.Writes[0].Data, Is.EqualTo(0x41u));
    }

    [Test]
    public void MaskBits_WritableOnlyForRequestedVectors()
    {
        var msi = Make(new() { VectorsRequested = 4, PerVectorMasking = true });
        msi.Function.W(msi.Offset + 0x10, 4, 0xFFFF_FFFF);
        Assert.That(msi.Function.R(msi.Offset + 0x10, 4), Is.EqualTo(0xFu));
    }

    [Test]
    public void PendingBits_AreReadOnly()
    {
        var msi = Make(new() { VectorsRequested = 4, PerVectorMasking = true });
        msi.Function.W(msi.Offset + 0x14, 4, 0xF);
        Assert.That(msi.Function.R(msi.Offset + 0x14, 4), Is.Zero);
    }

    [Test]
    public void MaskedVector_SetsPending_UnmaskDelivers()
    {
        var msi = Make(new() { VectorsRequested = 4, PerVectorMasking = true });
        Program(msi, 0xFEE0_0000, 0x50, mme: 2);
        msi.Function.W(msi.Offset + 0x10, 4, 0b0100);
        Assert.That(msi.Trigger(2), Is.False);
        Assert.That(_up.Writes, Is.Empty);
        Assert.That(msi.Function.R(msi.Offset + 0x14, 4), Is.EqualTo(0b0100u), "pending bit 2");
        msi.Function.W(msi.Offset + 0x10, 4, 0);
        Assert.That(_up.Writes, Has.Count.EqualTo(1));
        Assert.That(_up.Writes[0].Data, Is.EqualTo(0x52u));
        Assert.That(msi.IsPending(2), Is.False);
    }

    [Test]
    public void BusMasterClear_HoldsMessagePending_SettingItDelivers()
    {
        var msi = Make(new() { VectorsRequested = 2, PerVectorMasking = true });
        Program(msi, 0xFEE0_0000, 0x60, mme: 1);
        msi.Function.EnableBusMaster(false);
        Assert.That(msi.Trigger(1), Is.False);
        Assert.That(_up.Writes, Is.Empty, "no MSI without Bus Master Enable");
        Assert.That(msi.IsPending(1), Is.True);
        msi.Function.EnableBusMaster();
        Assert.That(_up.Writes, Has.Count.EqualTo(1));
        Assert.That(_up.Writes[0].Data, Is.EqualTo(0x61u));
    }

    [Test]
    public void BusMasterClear_WithoutMaskingCapability_StillHeldAndDeliveredLater()
    {
        var msi = Make(new());
        Program(msi, 0xFEE0_0000, 0x70, mme: 0);
        msi.Function.EnableBusMaster(false);
        msi.Trigger(0);
        Assert.That(_up.Writes, Is.Empty);
        msi.Function.EnableBusMaster();
        Assert.That(_up.Writes, Has.Count.EqualTo(1));
    }

    [Test]
    public void Flr_DisablesMsiAndClearsProgramming()
    {
        var msi = Make(new() { PerVectorMasking = true });
        Program(msi, 0xFEE0_0000, 0x70, mme: 0);
        msi.Function.Reset(ResetKind.FunctionLevel);
        Assert.That(msi.IsEnabled, Is.False);
        Assert.That(msi.MessageAddress, Is.Zero);
    }

    [Test]
    public void Trigger_VectorBeyondRequested_Throws()
    {
        var msi = Make(new() { VectorsRequested = 2 });
        Assert.Throws<ArgumentOutOfRangeException>(() => msi.Trigger(2));
    }

    [Test]
    public void Options_InvalidVectorCount_IsRejected() =>
        Assert.Throws<ArgumentException>(() => new MsiCapability(new() { VectorsRequested = 3 }));
}
