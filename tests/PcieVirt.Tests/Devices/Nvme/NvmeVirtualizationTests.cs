using System.Buffers.Binary;
using PcieVirt.Devices.Driver;
using PcieVirt.Devices.Nvme;
using PcieVirt.Fabric;
using PcieVirt.Pci;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Functions;
using PcieVirt.Tests.Fabric;

namespace PcieVirt.Tests.Devices.Nvme;

/// <summary>
/// A PF primary controller with two VF secondary controllers (NVMe Base 1.4 §8.5):
/// <code>
/// 00:01.0 root port ── 01:00.0 pf (CNTLID 1; SR-IOV TotalVFs 2, VF BAR0 16 KiB with MSI-X 4 entries)
///                       VF1 = secondary CNTLID 2, VF2 = secondary CNTLID 3
/// </code>
/// Resources: VQ private 2 / flexible 16 (at most 4 per secondary), VI private 2 / flexible 8 (at most 2).
/// The fabric of this branch does not route requests to VFs, so VF-side drivers reach the VF through
/// <see cref="DirectFunctionBus"/> (config and BAR accesses on the VF object, DMA and MSI-X through the fabric).
/// </summary>
internal sealed class SriovNvmePlatform
{
    public SriovNvmePlatform()
    {
        Rc = new RootComplex(FabricTestKit.Options());
        var port = Rc.AddRootPort(1, 0, FabricTestKit.Port("rp0", BridgePortKind.RootPort));
        Subsystem = new NvmeSubsystem("nqn.2024-01.io.pcievirt:sriov", 16);
        Ns1 = new MemoryNamespaceBackend(1024);
        Ns2 = new MemoryNamespaceBackend(2048);
        Subsystem.AddNamespace(1, Ns1);
        Subsystem.AddNamespace(2, Ns2);
        var options = new NvmeControllerOptions
        {
            ControllerId = 1,
            MaxIoQueuePairs = 8,
            Virtualization = new NvmeVirtualizationOptions
            {
                PrivateQueues = 2, FlexibleQueues = 16, MaxQueuesPerSecondary = 4,
                PrivateInterrupts = 2, FlexibleInterrupts = 8, MaxInterruptsPerSecondary = 2,
                Secondaries = [new(2, 1), new(3, 2)],
            },
        };
        Pf = new NvmeEndpointFunction("pf", new FunctionIdentity { VendorId = 0x1B36, DeviceId = 0x0011, ClassCode = NvmeEndpointFunction.RaidClassCode },
            options, Subsystem);
        Pf.AddCapability(new PciExpressCapability(new PciExpressOptions { FlrCapable = true }));
        Sriov = new SriovCapability(new SriovOptions
        {
            TotalVfs = 2,
            VfDeviceId = 0x0012,
            VfBars = [new BarDefinition(0, BarKind.Memory64, 0x4000)],
            VfMsix = new MsixOptions(4, 0, 0x2000, 0, 0x3000),
        })
        {
            VirtualFunctionFactory = (s, i) => new NvmeVirtualFunction(s, i, new NvmeControllerOptions
            {
                ControllerId = (ushort)(2 + i), IsSecondary = true, VirtualFunctionNumber = i + 1, MaxIoQueuePairs = 3, MsixTableSize = 4,
            }, Subsystem),
        };
        Pf.AddCapability(Sriov);
        Pf.Seal();
        Subsystem.Attach(1, 1);
        port.ConnectDevice(Pf);
        Assert.That(new FirmwareEnumerator(Rc).Enumerate().Failures, Is.Empty);
        Memory = new HostMemoryAllocator(Rc.HostMemory, 0x100_0000, 0x400_0000);
        PfDriver = new NvmeDriver(Rc, Pf.Bdf, Memory);
        PfDriver.Initialize();
    }

    public RootComplex Rc { get; }
    public NvmeSubsystem Subsystem { get; }
    public MemoryNamespaceBackend Ns1 { get; }
    public MemoryNamespaceBackend Ns2 { get; }
    public NvmeEndpointFunction Pf { get; }
    public SriovCapability Sriov { get; }
    public HostMemoryAllocator Memory { get; }
    public NvmeDriver PfDriver { get; }
    public NvmeController Primary => Pf.Controller;

    /// <summary>Host software enables <paramref name="n"/> VFs with VF Memory Space Enable.</summary>
    public IReadOnlyList<NvmeVirtualFunction> EnableVfs(int n = 2)
    {
        var pf = new PciAddress(0, Pf.Bdf);
        Rc.Write(pf, Sriov.Offset + 0x10, 2, (uint)n);
        Rc.Read(pf, Sriov.Offset + 0x08, 2, out uint ctl);
        Rc.Write(pf, Sriov.Offset + 0x08, 2, ctl | 1 | 1 << 3);
        return Sriov.VirtualFunctions.Cast<NvmeVirtualFunction>().ToList();
    }

    public NvmeDriver VfDriver(NvmeVirtualFunction vf, NvmeDriverOptions? options = null) =>
        new(new DirectFunctionBus(vf, Rc), Memory, options);

    public NvmeCompletion Virt(int action, int resource, ushort cntlid, int count) =>
        PfDriver.ExecuteAdmin(new NvmeSubmission
        {
            Opcode = NvmeAdminOpcode.VirtualizationManagement,
            Cdw10 = (uint)action | (uint)resource << 8 | (uint)cntlid << 16,
            Cdw11 = (uint)count,
        });

    /// <summary>Assigns VQ and VI resources to a secondary and brings it online.</summary>
    public void Provision(ushort scid, int queues, int interrupts)
    {
        Assert.That(Virt(8, 0, scid, queues).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(Virt(8, 1, scid, interrupts).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(Virt(9, 0, scid, 0).Status, Is.EqualTo(NvmeStatus.Success));
    }
}

/// <summary>Host access to one function without fabric routing of config and MMIO (for VFs here): the function's own registers and BAR decode.</summary>
internal sealed class DirectFunctionBus(PciFunction function, RootComplex rc) : INvmeHostBus
{
    public string Name => function.Name;
    public uint ConfigRead(int offset, int width) => function.Config.Read(offset, width);
    public void ConfigWrite(int offset, int width, uint value) => function.Config.Write(offset, width, value);

    public CompletionStatus MemoryRead(ulong address, Span<byte> data)
    {
        if (!function.TryDecodeMemory(address, out int bar, out ulong offset)) { data.Fill(0xFF); return CompletionStatus.UnsupportedRequest; }
        function.BarRead(bar, offset, data);
        return CompletionStatus.SuccessfulCompletion;
    }

    public CompletionStatus MemoryWrite(ulong address, ReadOnlySpan<byte> data)
    {
        if (!function.TryDecodeMemory(address, out int bar, out ulong offset)) return CompletionStatus.UnsupportedRequest;
        function.BarWrite(bar, offset, data);
        return CompletionStatus.SuccessfulCompletion;
    }

    public long InterruptCount(byte vector) => rc.InterruptController.CountForVector(vector);
    public ulong BarAddress(int index) => function.BarAddress(index);
}

[TestFixture]
public class NvmeVirtualizationTests
{
    const int Offline = 7, Assign = 8, Online = 9, PrimaryFlexible = 1;
    const int Vq = 0, Vi = 1;

    static (ushort Scid, ushort Pcid, byte Scs, ushort Vfn, ushort Nvq, ushort Nvi)[] SecondaryList(NvmeDriver d, ushort from = 0)
    {
        var b = d.IdentifyRaw(NvmeIdentifyCns.SecondaryControllerList, 0, from);
        var r = new (ushort, ushort, byte, ushort, ushort, ushort)[b[0]];
        for (int i = 0; i < r.Length; i++)
        {
            var e = b.AsSpan(32 + 32 * i, 32);
            r[i] = (BinaryPrimitives.ReadUInt16LittleEndian(e), BinaryPrimitives.ReadUInt16LittleEndian(e[2..]), e[4],
                BinaryPrimitives.ReadUInt16LittleEndian(e[8..]), BinaryPrimitives.ReadUInt16LittleEndian(e[10..]), BinaryPrimitives.ReadUInt16LittleEndian(e[12..]));
        }
        return r;
    }

    [Test]
    public void PrimaryControllerCapabilities_ReportTheResourcePools()
    {
        var p = new SriovNvmePlatform();
        var d = p.PfDriver;
        Assert.That(d.Controller!.Oacs & (1 << 7), Is.Not.Zero, "OACS: Virtualization Management");
        Assert.That(d.Controller.Cmic & 2, Is.Not.Zero, "CMIC: more than one controller in the subsystem");
        var b = d.IdentifyRaw(NvmeIdentifyCns.PrimaryControllerCapabilities, 0, 1);
        Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(b), Is.EqualTo(1), "CNTLID");
        Assert.That(b[4], Is.EqualTo(0b11), "CRT: VQ and VI");
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(32)), Is.EqualTo(16u), "VQFRT");
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(36)), Is.Zero, "VQRFA");
        Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(40)), Is.Zero, "VQRFAP");
        Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(42)), Is.EqualTo(2), "VQPRT");
        Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(44)), Is.EqualTo(4), "VQFRSM");
        Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(46)), Is.EqualTo(1), "VQGRAN");
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(64)), Is.EqualTo(8u), "VIFRT");
        Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(74)), Is.EqualTo(2), "VIPRT");
        Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(76)), Is.EqualTo(2), "VIFRSM");
        Assert.That(d.Identify(NvmeIdentifyCns.PrimaryControllerCapabilities, 0, 2, out _), Is.EqualTo(NvmeStatus.InvalidFieldInCommand), "CNTID must name the primary");
    }

    [Test]
    public void SecondaryControllerList_FromTheConfiguredTable()
    {
        var p = new SriovNvmePlatform();
        var list = SecondaryList(p.PfDriver);
        Assert.That(list, Is.EqualTo(new[] { ((ushort)2, (ushort)1, (byte)0, (ushort)1, (ushort)0, (ushort)0), ((ushort)3, (ushort)1, (byte)0, (ushort)2, (ushort)0, (ushort)0) }));
        Assert.That(SecondaryList(p.PfDriver, from: 3).Select(e => e.Scid), Is.EqualTo(new ushort[] { 3 }), "SCID >= CNTID");
        // The subsystem's controller list names the primary and both secondaries (their VFs need not exist yet).
        var all = p.PfDriver.IdentifyRaw(NvmeIdentifyCns.SubsystemControllers, 0);
        Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(all), Is.EqualTo(3));
    }

    [Test]
    public void Assign_Online_Offline_UpdateTheListAndThePools()
    {
        var p = new SriovNvmePlatform();
        var assign = p.Virt(Assign, Vq, 2, 3);
        Assert.That(assign.Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(assign.Dword0 & 0xFFFF, Is.EqualTo(3u), "NRM: resources assigned");
        Assert.That(p.Virt(Assign, Vi, 2, 1).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(p.Virt(Online, 0, 2, 0).Status, Is.EqualTo(NvmeStatus.Success));
        var e = SecondaryList(p.PfDriver)[0];
        Assert.That((e.Scs, e.Nvq, e.Nvi), Is.EqualTo(((byte)1, (ushort)3, (ushort)1)));
        var caps = p.PfDriver.IdentifyRaw(NvmeIdentifyCns.PrimaryControllerCapabilities, 0, 1);
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(caps.AsSpan(36)), Is.EqualTo(3u), "VQRFA");
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(caps.AsSpan(68)), Is.EqualTo(1u), "VIRFA");
        Assert.That(p.Virt(Assign, Vq, 2, 2).Status, Is.EqualTo(NvmeStatus.InvalidSecondaryControllerState), "online: no reassignment");
        Assert.That(p.Virt(Offline, 0, 2, 0).Status, Is.EqualTo(NvmeStatus.Success));
        e = SecondaryList(p.PfDriver)[0];
        Assert.That((e.Scs, e.Nvq, e.Nvi), Is.EqualTo(((byte)0, (ushort)0, (ushort)0)), "offline returns the flexible resources");
        caps = p.PfDriver.IdentifyRaw(NvmeIdentifyCns.PrimaryControllerCapabilities, 0, 1);
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(caps.AsSpan(36)), Is.Zero);
    }

    [Test]
    public void VirtualizationManagement_Errors()
    {
        var p = new SriovNvmePlatform();
        Assert.That(p.Virt(Assign, Vq, 2, 5).Status, Is.EqualTo(NvmeStatus.InvalidNumberOfControllerResources), "beyond VQFRSM 4");
        Assert.That(p.Virt(Assign, Vq, 9, 1).Status, Is.EqualTo(NvmeStatus.InvalidControllerIdentifier), "no such secondary");
        Assert.That(p.Virt(Assign, Vq, 1, 1).Status, Is.EqualTo(NvmeStatus.InvalidControllerIdentifier), "the primary is not a secondary");
        Assert.That(p.Virt(Online, 0, 2, 0).Status, Is.EqualTo(NvmeStatus.InvalidSecondaryControllerState), "no resources yet");
        p.Virt(Assign, Vq, 2, 1);
        p.Virt(Assign, Vi, 2, 1);
        Assert.That(p.Virt(Online, 0, 2, 0).Status, Is.EqualTo(NvmeStatus.InvalidSecondaryControllerState), "needs an admin and an I/O queue (2 VQ)");
        Assert.That(p.Virt(PrimaryFlexible, Vq, 2, 1).Status, Is.EqualTo(NvmeStatus.InvalidControllerIdentifier), "primary allocation names the primary");
        Assert.That(p.Virt(PrimaryFlexible, Vq, 1, 17).Status, Is.EqualTo(NvmeStatus.InvalidNumberOfControllerResources), "beyond VQFRT");
        p.Virt(Assign, Vq, 2, 4);
        p.Virt(Assign, Vq, 3, 4);
        Assert.That(p.Virt(PrimaryFlexible, Vq, 1, 9).Status, Is.EqualTo(NvmeStatus.InvalidResourceIdentifier), "only 8 left in the pool");
        Assert.That(p.Virt(PrimaryFlexible, Vq, 1, 8).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(p.Virt(Assign, Vq, 3, 5).Status, Is.EqualTo(NvmeStatus.InvalidNumberOfControllerResources));
        Assert.That(p.Virt(2, Vq, 2, 1).Status, Is.EqualTo(NvmeStatus.InvalidFieldInCommand), "action 2h reserved");
        Assert.That(p.Virt(Assign, 2, 2, 1).Status, Is.EqualTo(NvmeStatus.InvalidFieldInCommand), "resource type 2 reserved");
    }

    [Test]
    public void PrimaryFlexibleAllocation_TakesEffectAtTheNextReset()
    {
        var p = new SriovNvmePlatform();
        Assert.That(p.Virt(PrimaryFlexible, Vq, 1, 4).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(p.Primary.PrimaryFlexibleQueues, Is.Zero, "not yet");
        var before = p.PfDriver.ExecuteAdmin(new NvmeSubmission { Opcode = NvmeAdminOpcode.GetFeatures, Cdw10 = NvmeFeatureId.NumberOfQueues | 1 << 8 });
        Assert.That(before.Dword0 & 0xFFFF, Is.EqualTo(0u), "VQPRT 2 = admin + one I/O queue (0's based)");
        p.PfDriver.DisableController();
        var d = new NvmeDriver(p.Rc, p.Pf.Bdf, p.Memory);
        d.Initialize();
        Assert.That(p.Primary.PrimaryFlexibleQueues, Is.EqualTo(4));
        var after = d.ExecuteAdmin(new NvmeSubmission { Opcode = NvmeAdminOpcode.GetFeatures, Cdw10 = NvmeFeatureId.NumberOfQueues | 1 << 8 });
        Assert.That(after.Dword0 & 0xFFFF, Is.EqualTo(4u), "2 private + 4 flexible - admin = 5 I/O queues");
    }

    [Test]
    public void OnlineSecondary_IsAUsableController_SeeingOnlyItsNamespaces()
    {
        var p = new SriovNvmePlatform();
        var vfs = p.EnableVfs();
        Assert.That(vfs, Has.Count.EqualTo(2));
        p.Provision(2, queues: 3, interrupts: 2);
        Assert.That(p.Subsystem.Attach(2, 2), Is.EqualTo(NvmeStatus.Success), "the PF hands namespace 2 to VF1's controller");
        var vf = vfs[0];
        var d = p.VfDriver(vf, new NvmeDriverOptions { IoQueuePairs = 1 });
        d.Initialize();
        Assert.That(d.Controller!.ControllerId, Is.EqualTo(2));
        Assert.That(d.Controller.VendorId, Is.EqualTo(0x1B36), "VID: the Vendor ID the VF presents (its PF's)");
        Assert.That(d.Controller.Cmic & 0b100, Is.Not.Zero, "CMIC: SR-IOV virtual function");
        Assert.That(d.Controller.Oacs, Is.Zero, "a secondary manages neither namespaces nor virtualization");
        Assert.That(d.Namespaces.Keys, Is.EqualTo(new uint[] { 2 }));
        ulong buf = p.Memory.Allocate(4096);
        Buffer(p, buf, 0x5A);
        Assert.That(d.Write(2, 0, 8, buf).Status, Is.EqualTo(NvmeStatus.Success));
        var stored = new byte[4096];
        p.Ns2.Peek(0, stored);
        Assert.That(stored, Is.All.EqualTo(0x5A));
        Assert.That(d.ExecuteIo(1, new NvmeSubmission { Opcode = NvmeIoOpcode.Read, Nsid = 1, Prp1 = buf }).Status,
            Is.EqualTo(NvmeStatus.InvalidNamespaceOrFormat), "namespace 1 is not attached to the VF");
        Assert.That(p.Ns1.Reads, Is.Zero);
        Assert.That(d.ExecuteAdmin(new NvmeSubmission { Opcode = NvmeAdminOpcode.NamespaceAttachment, Nsid = 1 }).Status,
            Is.EqualTo(NvmeStatus.InvalidCommandOpcode), "a VF cannot attach namespaces to itself");
        // The VF's interrupts carry the VF's requester ID.
        Assert.That(p.Rc.InterruptController.LastMessage!.Value.RequesterId, Is.EqualTo(vf.Bdf));
        Assert.That(vf.Bdf, Is.Not.EqualTo(p.Pf.Bdf));
    }

    static void Buffer(SriovNvmePlatform p, ulong at, byte value) => p.Rc.HostMemory.Write(at, Enumerable.Repeat(value, 4096).ToArray());

    [Test]
    public void SecondaryResources_LimitQueuesAndVectors()
    {
        var p = new SriovNvmePlatform();
        var vf = p.EnableVfs()[0];
        p.Provision(2, queues: 3, interrupts: 2);
        var d = p.VfDriver(vf, new NvmeDriverOptions { IoQueuePairs = 0 });
        d.Initialize();
        var nq = d.ExecuteAdmin(new NvmeSubmission { Opcode = NvmeAdminOpcode.SetFeatures, Cdw10 = NvmeFeatureId.NumberOfQueues, Cdw11 = 7u | 7u << 16 });
        Assert.That(nq.Dword0, Is.EqualTo(1u | 1u << 16), "3 VQ = admin + 2 I/O queues");
        ulong m = p.Memory.Allocate(0x1000);
        var cq = d.ExecuteAdmin(new NvmeSubmission { Opcode = NvmeAdminOpcode.CreateIoCompletionQueue, Prp1 = m, Cdw10 = 1u | 15u << 16, Cdw11 = 3u | 2u << 16 });
        Assert.That(cq.Status, Is.EqualTo(NvmeStatus.InvalidInterruptVector), "2 VI: vectors 0 and 1 only, though the MSI-X table has 4");
        cq = d.ExecuteAdmin(new NvmeSubmission { Opcode = NvmeAdminOpcode.CreateIoCompletionQueue, Prp1 = m, Cdw10 = 3u | 15u << 16, Cdw11 = 3u | 1u << 16 });
        Assert.That(cq.Status, Is.EqualTo(NvmeStatus.InvalidQueueIdentifier), "only 2 I/O queues");
    }

    [Test]
    public void OfflineSecondary_CannotBeEnabled_AndGoingOfflineStopsIt()
    {
        var p = new SriovNvmePlatform();
        var vfs = p.EnableVfs();
        var d = p.VfDriver(vfs[1]);
        Assert.Throws<NvmeDriverException>(d.Initialize, "offline: enabling sets CSTS.CFS");
        Assert.That(vfs[1].Controller.IsFatal, Is.True);
        p.Provision(3, 2, 1);
        var d2 = p.VfDriver(vfs[1]);
        d2.Initialize();
        Assert.That(vfs[1].Controller.IsReady, Is.True);
        Assert.That(p.Virt(Offline, 0, 3, 0).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(vfs[1].Controller.IsFatal, Is.True, "taken offline while enabled");
        Assert.That(vfs[1].Controller.SubmissionQueueExists(1), Is.False);
        Assert.That(vfs[0].Controller.IsFatal, Is.False, "the other VF is not affected");
    }

    [Test]
    public void VfBusMasterDisabled_ItsControllerDoesNoDma_ThePfCarriesOn()
    {
        var p = new SriovNvmePlatform();
        var vf = p.EnableVfs()[0];
        p.Provision(2, 2, 1);
        var d = p.VfDriver(vf);
        d.Initialize();
        vf.Config.Write(PcieVirt.Pci.Config.PciRegs.Command, 2, 0); // the VF's Bus Master Enable off
        d.Submit(d.IoQueue(1), new NvmeSubmission { Opcode = NvmeIoOpcode.Flush, Nsid = 2 });
        Assert.That(vf.Controller.IsFatal, Is.True, "the VF cannot fetch: controller fatal");
        Assert.That(p.PfDriver.Flush(1).Status, Is.EqualTo(NvmeStatus.Success), "the PF is not affected");
        Assert.That(p.Primary.IsFatal, Is.False);
    }

    [Test]
    public void PrimaryReset_TakesSecondariesOffline()
    {
        var p = new SriovNvmePlatform();
        p.EnableVfs();
        p.Provision(2, 2, 1);
        p.PfDriver.DisableController();
        Assert.That(p.Subsystem.FindSecondary(2)!.IsOnline, Is.False);
        Assert.That(p.Subsystem.FindSecondary(2)!.QueueResources, Is.Zero);
    }

    [Test]
    public void VfDestroyed_AttachmentSurvives_ForTheNextVf()
    {
        var p = new SriovNvmePlatform();
        var first = p.EnableVfs()[0];
        p.Subsystem.Attach(2, 2);
        var pf = new PciAddress(0, p.Pf.Bdf);
        p.Rc.Write(pf, p.Sriov.Offset + 0x08, 2, 0); // VF Enable clear: VFs destroyed
        Assert.That(p.Subsystem.FindController(2), Is.Null);
        Assert.That(p.Subsystem.FindNamespace(2)!.IsAttachedTo(2), Is.True);
        var again = p.EnableVfs()[0];
        Assert.That(again, Is.Not.SameAs(first));
        Assert.That(p.Subsystem.FindController(2), Is.SameAs(again.Controller));
        p.Provision(2, 2, 1);
        var d = p.VfDriver(again);
        d.Initialize();
        Assert.That(d.Namespaces.Keys, Is.EqualTo(new uint[] { 2 }));
    }
}
