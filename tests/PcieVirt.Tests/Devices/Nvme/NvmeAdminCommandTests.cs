using System.Buffers.Binary;
using System.Text;
using PcieVirt.Devices.Driver;
using PcieVirt.Devices.Nvme;

namespace PcieVirt.Tests.Devices.Nvme;

/// <summary>Admin commands (NVMe Base 1.4 §5) through a driver on the fabric.</summary>
[TestFixture]
public class NvmeAdminCommandTests
{
    static NvmeCompletion Admin(NvmeDriver d, byte opcode, uint cdw10 = 0, uint cdw11 = 0, uint nsid = 0, ulong prp1 = 0) =>
        d.ExecuteAdmin(new NvmeSubmission { Opcode = opcode, Cdw10 = cdw10, Cdw11 = cdw11, Nsid = nsid, Prp1 = prp1 });

    static NvmeCompletion CreateCq(NvmeDriver d, uint qid, int entries, ulong prp1, uint flags = 0b11, uint vector = 0) =>
        Admin(d, NvmeAdminOpcode.CreateIoCompletionQueue, qid | (uint)(entries - 1) << 16, flags | vector << 16, prp1: prp1);

    static NvmeCompletion CreateSq(NvmeDriver d, uint qid, int entries, ulong prp1, uint cqid, uint flags = 1) =>
        Admin(d, NvmeAdminOpcode.CreateIoSubmissionQueue, qid | (uint)(entries - 1) << 16, flags | cqid << 16, prp1: prp1);

    // ---------------------------------------------------------------- Identify

    [Test]
    public void IdentifyController_ReportsTheControllerAtTheSpecOffsets()
    {
        var p = new NvmeTestPlatform(new NvmeControllerOptions { SerialNumber = "SN-42", ModelNumber = "Model X", FirmwareRevision = "2.1" });
        var d = p.ReadyDriver();
        var b = d.IdentifyRaw(NvmeIdentifyCns.Controller, 0);
        Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(b), Is.EqualTo(0x1B36), "VID = PCI Vendor ID");
        Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(2)), Is.EqualTo(0x1B36), "SSVID");
        Assert.That(Encoding.ASCII.GetString(b, 4, 20), Is.EqualTo("SN-42".PadRight(20)), "SN, space padded");
        Assert.That(Encoding.ASCII.GetString(b, 24, 40), Is.EqualTo("Model X".PadRight(40)));
        Assert.That(Encoding.ASCII.GetString(b, 64, 8), Is.EqualTo("2.1".PadRight(8)));
        Assert.That(b[77], Is.EqualTo(5), "MDTS");
        Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(78)), Is.EqualTo(NvmeTestPlatform.ControllerId), "CNTLID");
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(80)), Is.EqualTo(0x0001_0400u), "VER");
        Assert.That(b[111], Is.EqualTo(1), "CNTRLTYPE: I/O controller");
        Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(256)), Is.EqualTo(1 << 3), "OACS: namespace management/attachment only");
        Assert.That(b[258], Is.EqualTo(3), "ACL (0's based)");
        Assert.That(b[259], Is.EqualTo(3), "AERL (0's based)");
        Assert.That(b[262], Is.EqualTo(63), "ELPE (0's based)");
        Assert.That(b[512], Is.EqualTo(0x66), "SQES");
        Assert.That(b[513], Is.EqualTo(0x44), "CQES");
        Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(516)), Is.EqualTo(16u), "NN");
        Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(520)), Is.EqualTo(0b1100), "ONCS: Write Zeroes, Dataset Management");
        Assert.That(b[525], Is.EqualTo(0b111), "VWC present, broadcast flush");
        Assert.That(Encoding.ASCII.GetString(b, 768, 28), Is.EqualTo("nqn.2024-01.io.pcievirt:test"), "SUBNQN");
        Assert.That(b[768 + 28], Is.Zero);
        Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(280)), Is.EqualTo(NvmeTestPlatform.Ns1Blocks * 512), "TNVMCAP");
    }

    [Test]
    public void IdentifyNamespace_ActiveNamespace()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver();
        var b = d.IdentifyRaw(NvmeIdentifyCns.Namespace, 1);
        Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(b), Is.EqualTo(NvmeTestPlatform.Ns1Blocks), "NSZE");
        Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(8)), Is.EqualTo(NvmeTestPlatform.Ns1Blocks), "NCAP");
        Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(16)), Is.EqualTo(NvmeTestPlatform.Ns1Blocks), "NUSE");
        Assert.That(b[25], Is.Zero, "NLBAF: one format");
        Assert.That(b[26], Is.Zero, "FLBAS: format 0");
        Assert.That(b[30], Is.EqualTo(1), "NMIC: shareable");
        Assert.That(b[33] & 7, Is.EqualTo(1), "DLFEAT: deallocated blocks read zeros");
        Assert.That(b[130], Is.EqualTo(9), "LBAF0 LBADS: 2^9 = 512");
        Assert.That(b.AsSpan(104, 16).ToArray(), Is.Not.All.Zero, "NGUID");
        Assert.That(d.Namespaces[1].BlockSize, Is.EqualTo(512));
    }

    [Test]
    public void IdentifyNamespace_InactiveIsZeroFilled_InvalidIsAnError()
    {
        var p = new NvmeTestPlatform();
        p.Subsystem.AddNamespace(2, new MemoryNamespaceBackend(16));
        var d = p.ReadyDriver();
        Assert.That(d.Identify(NvmeIdentifyCns.Namespace, 2, 0, out var inactive), Is.EqualTo(NvmeStatus.Success));
        Assert.That(inactive, Is.All.Zero, "allocated but not attached: inactive");
        Assert.That(d.Identify(NvmeIdentifyCns.Namespace, 9, 0, out var unallocated), Is.EqualTo(NvmeStatus.Success));
        Assert.That(unallocated, Is.All.Zero);
        Assert.That(d.Identify(NvmeIdentifyCns.Namespace, 0, 0, out _), Is.EqualTo(NvmeStatus.InvalidNamespaceOrFormat));
        Assert.That(d.Identify(NvmeIdentifyCns.Namespace, 17, 0, out _), Is.EqualTo(NvmeStatus.InvalidNamespaceOrFormat), "beyond NN");
        Assert.That(d.Identify(NvmeIdentifyCns.Namespace, 0xFFFF_FFFF, 0, out var common), Is.EqualTo(NvmeStatus.Success));
        Assert.That(common[25], Is.EqualTo(1), "two formats in common");
        Assert.That(common[130], Is.EqualTo(9));
        Assert.That(common[134], Is.EqualTo(12));
        // CNS 11h describes an allocated namespace whether attached or not.
        Assert.That(d.Identify(NvmeIdentifyCns.AllocatedNamespace, 2, 0, out var allocated), Is.EqualTo(NvmeStatus.Success));
        Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(allocated), Is.EqualTo(16UL));
    }

    [Test]
    public void NamespaceLists_ActiveAllocatedAndAttachedControllers()
    {
        var p = new NvmeTestPlatform();
        foreach (uint n in new uint[] { 3, 5, 7 }) p.Subsystem.AddNamespace(n, new MemoryNamespaceBackend(8));
        p.Subsystem.Attach(5, NvmeTestPlatform.ControllerId);
        var d = p.ReadyDriver();
        Assert.That(Nsids(d.IdentifyRaw(NvmeIdentifyCns.ActiveNamespaceList, 0)), Is.EqualTo(new uint[] { 1, 5 }));
        Assert.That(Nsids(d.IdentifyRaw(NvmeIdentifyCns.ActiveNamespaceList, 1)), Is.EqualTo(new uint[] { 5 }), "NSIDs greater than NSID");
        Assert.That(Nsids(d.IdentifyRaw(NvmeIdentifyCns.AllocatedNamespaceList, 0)), Is.EqualTo(new uint[] { 1, 3, 5, 7 }));
        Assert.That(d.Identify(NvmeIdentifyCns.ActiveNamespaceList, 0xFFFF_FFFE, 0, out _), Is.EqualTo(NvmeStatus.InvalidNamespaceOrFormat));
        var attached = d.IdentifyRaw(NvmeIdentifyCns.NamespaceAttachedControllers, 5);
        Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(attached), Is.EqualTo(1));
        Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(attached.AsSpan(2)), Is.EqualTo(NvmeTestPlatform.ControllerId));
        Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(d.IdentifyRaw(NvmeIdentifyCns.NamespaceAttachedControllers, 3)), Is.Zero);
        var all = d.IdentifyRaw(NvmeIdentifyCns.SubsystemControllers, 0);
        Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(all), Is.EqualTo(1));
        Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(d.IdentifyRaw(NvmeIdentifyCns.SubsystemControllers, 0, cntid: 2)), Is.Zero, "IDs >= CNTID");
    }

    static uint[] Nsids(byte[] list)
    {
        var r = new List<uint>();
        for (int i = 0; i < 1024; i++)
        {
            uint n = BinaryPrimitives.ReadUInt32LittleEndian(list.AsSpan(4 * i));
            if (n == 0) break;
            r.Add(n);
        }
        return [.. r];
    }

    [Test]
    public void NamespaceIdentificationDescriptors_CarryTheNguid()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver();
        var b = d.IdentifyRaw(NvmeIdentifyCns.NamespaceIdentificationDescriptors, 1);
        Assert.That(b[0], Is.EqualTo(2), "NIDT: NGUID");
        Assert.That(b[1], Is.EqualTo(16), "NIDL");
        var ns = d.IdentifyRaw(NvmeIdentifyCns.Namespace, 1);
        Assert.That(b.AsSpan(4, 16).ToArray(), Is.EqualTo(ns.AsSpan(104, 16).ToArray()));
        Assert.That(b[20], Is.Zero, "the list ends");
    }

    [Test]
    public void Identify_UnsupportedOrPrimaryOnlyCns_IsInvalidField()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver();
        Assert.That(d.Identify(0x1F, 0, 0, out _), Is.EqualTo(NvmeStatus.InvalidFieldInCommand));
        Assert.That(d.Identify(NvmeIdentifyCns.PrimaryControllerCapabilities, 0, 1, out _), Is.EqualTo(NvmeStatus.InvalidFieldInCommand), "not a primary controller");
        Assert.That(d.Identify(NvmeIdentifyCns.SecondaryControllerList, 0, 0, out _), Is.EqualTo(NvmeStatus.InvalidFieldInCommand));
    }

    // ---------------------------------------------------------------- queues

    [Test]
    public void CreateIoQueues_Checks()
    {
        var p = new NvmeTestPlatform(new NvmeControllerOptions { MaxQueueEntries = 256, MaxIoQueuePairs = 4 });
        var d = p.ReadyDriver(new NvmeDriverOptions { IoQueuePairs = 1 });
        ulong mem = p.Memory.Allocate(0x4000);
        Assert.That(CreateCq(d, 0, 16, mem).Status, Is.EqualTo(NvmeStatus.InvalidQueueIdentifier), "QID 0 is the admin queue");
        Assert.That(CreateCq(d, 1, 16, mem).Status, Is.EqualTo(NvmeStatus.InvalidQueueIdentifier), "already exists");
        Assert.That(CreateCq(d, 2, 16, mem).Status, Is.EqualTo(NvmeStatus.InvalidQueueIdentifier), "beyond the 1 queue allocated by Number of Queues");
        var fresh = new NvmeTestPlatform(new NvmeControllerOptions { MaxQueueEntries = 256, MaxIoQueuePairs = 4 });
        var f = fresh.Driver();
        f.MapFunction(); f.DisableController(); f.ConfigureAdminQueue(); f.ConfigureMsix(); f.EnableController();
        ulong m = fresh.Memory.Allocate(0x10000);
        Assert.That(CreateCq(f, 5, 16, m).Status, Is.EqualTo(NvmeStatus.InvalidQueueIdentifier), "beyond the 4 the controller has");
        Assert.That(CreateCq(f, 1, 1, m).Status, Is.EqualTo(NvmeStatus.InvalidQueueSize), "a queue has at least 2 entries");
        Assert.That(CreateCq(f, 1, 257, m).Status, Is.EqualTo(NvmeStatus.InvalidQueueSize), "beyond MQES");
        Assert.That(CreateCq(f, 1, 16, m, flags: 0b10).Status, Is.EqualTo(NvmeStatus.InvalidFieldInCommand), "PC = 0 with CAP.CQR set");
        Assert.That(CreateCq(f, 1, 16, m + 0x80).Status, Is.EqualTo(NvmeStatus.PrpOffsetInvalid), "base not page aligned");
        Assert.That(CreateCq(f, 1, 16, m, vector: 5).Status, Is.EqualTo(NvmeStatus.InvalidInterruptVector), "MSI-X has 5 entries (0..4)");
        Assert.That(CreateCq(f, 1, 256, m, vector: 4).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(CreateSq(f, 1, 16, m + 0x4000, cqid: 2).Status, Is.EqualTo(NvmeStatus.CompletionQueueInvalid));
        Assert.That(CreateSq(f, 1, 16, m + 0x4000, cqid: 0).Status, Is.EqualTo(NvmeStatus.CompletionQueueInvalid), "the admin CQ cannot take I/O");
        Assert.That(CreateSq(f, 1, 16, m + 0x4000, cqid: 1, flags: 0).Status, Is.EqualTo(NvmeStatus.InvalidFieldInCommand));
        Assert.That(CreateSq(f, 1, 16, m + 0x4000, cqid: 1).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(CreateSq(f, 2, 16, m + 0x5000, cqid: 1).Status, Is.EqualTo(NvmeStatus.Success), "two SQs may share a CQ");
        Assert.That(fresh.Controller.CompletionQueueVector(1), Is.EqualTo(4));
    }

    [Test]
    public void CreateIoQueues_WithoutIoEntrySizesInCc_IsInvalidQueueSize()
    {
        var p = new NvmeTestPlatform();
        var d = p.Driver();
        d.MapFunction(); d.ConfigureAdminQueue();
        d.Write32(NvmeRegisters.Cc, 1); // IOSQES = IOCQES = 0: allowed for admin use
        d.WaitReady(true);
        ulong m = p.Memory.Allocate(0x2000);
        Assert.That(CreateCq(d, 1, 16, m).Status, Is.EqualTo(NvmeStatus.InvalidQueueSize));
    }

    [Test]
    public void DeleteQueues_OrderAndChecks()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver();
        Assert.That(Admin(d, NvmeAdminOpcode.DeleteIoCompletionQueue, 1).Status, Is.EqualTo(NvmeStatus.InvalidQueueDeletion), "SQ 1 still uses CQ 1");
        Assert.That(Admin(d, NvmeAdminOpcode.DeleteIoSubmissionQueue, 0).Status, Is.EqualTo(NvmeStatus.InvalidQueueIdentifier));
        Assert.That(Admin(d, NvmeAdminOpcode.DeleteIoCompletionQueue, 0).Status, Is.EqualTo(NvmeStatus.InvalidQueueIdentifier));
        Assert.That(Admin(d, NvmeAdminOpcode.DeleteIoSubmissionQueue, 9).Status, Is.EqualTo(NvmeStatus.InvalidQueueIdentifier));
        Assert.That(Admin(d, NvmeAdminOpcode.DeleteIoSubmissionQueue, 1).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(p.Controller.SubmissionQueueExists(1), Is.False);
        Assert.That(Admin(d, NvmeAdminOpcode.DeleteIoCompletionQueue, 1).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(p.Controller.CompletionQueueExists(1), Is.False);
        // The SQ tail doorbell of a deleted queue is now an invalid doorbell register.
        d.WriteDoorbell(1, false, 1);
        Assert.That(p.LogMessages(Microsoft.Extensions.Logging.LogLevel.Warning).Any(m => m.Contains("SQ 1 does not exist")), Is.True);
    }

    [Test]
    public void DeleteSq_AbortsCommandsNotYetProcessed()
    {
        var p = new NvmeTestPlatform(new NvmeControllerOptions { Processing = NvmeProcessingMode.Explicit });
        var d = p.ReadyDriver();
        var q = d.IoQueue(1);
        ushort c1 = d.Submit(q, new NvmeSubmission { Opcode = NvmeIoOpcode.Flush, Nsid = 1 });
        ushort c2 = d.Submit(q, new NvmeSubmission { Opcode = NvmeIoOpcode.Flush, Nsid = 1 });
        long flushes = p.Ns1.Flushes;
        // Delete SQ 1 goes through the admin queue; the explicit pump processes the admin SQ first (lower QID).
        var admin = d.AdminQueue!;
        ushort del = d.Submit(admin, new NvmeSubmission { Opcode = NvmeAdminOpcode.DeleteIoSubmissionQueue, Cdw10 = 1 });
        Assert.That(d.WaitFor(admin, del).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(d.TryReap(q, out var a1), Is.True);
        Assert.That(d.TryReap(q, out var a2), Is.True);
        var statuses = new[] { a1, a2 }.ToDictionary(c => c.CommandId, c => c.Status);
        Assert.That(statuses.Keys, Is.EquivalentTo(new[] { c1, c2 }));
        // Each round-robin pass starts at the admin queue, so the deletion ran before either flush.
        Assert.That(statuses.Values, Is.All.EqualTo(NvmeStatus.CommandAbortedSqDeletion));
        Assert.That(p.Ns1.Flushes, Is.EqualTo(flushes));
        Assert.That(p.Controller.SubmissionQueueExists(1), Is.False);
    }

    [Test]
    public void NumberOfQueues_AllocatesUpToTheLimit_OnlyBeforeQueuesExist()
    {
        var p = new NvmeTestPlatform(new NvmeControllerOptions { MaxIoQueuePairs = 8 });
        var d = p.Driver();
        d.MapFunction(); d.DisableController(); d.ConfigureAdminQueue(); d.ConfigureMsix(); d.EnableController();
        var get = Admin(d, NvmeAdminOpcode.GetFeatures, NvmeFeatureId.NumberOfQueues);
        Assert.That(get.Dword0, Is.EqualTo(7u | 7u << 16), "default: everything the controller has (0's based)");
        Assert.That(d.SetNumberOfQueues(32), Is.EqualTo((8, 8)), "capped at the controller's 8");
        Assert.That(Admin(d, NvmeAdminOpcode.SetFeatures, NvmeFeatureId.NumberOfQueues, 2u | 1u << 16).Dword0, Is.EqualTo(2u | 1u << 16));
        Assert.That(Admin(d, NvmeAdminOpcode.SetFeatures, NvmeFeatureId.NumberOfQueues, 0xFFFF).Status, Is.EqualTo(NvmeStatus.InvalidFieldInCommand));
        d.CreateIoQueuePair(1, 16);
        Assert.That(Admin(d, NvmeAdminOpcode.SetFeatures, NvmeFeatureId.NumberOfQueues, 0).Status, Is.EqualTo(NvmeStatus.CommandSequenceError));
        ulong m = p.Memory.Allocate(0x1000);
        Assert.That(CreateCq(d, 3, 16, m).Status, Is.EqualTo(NvmeStatus.InvalidQueueIdentifier), "two CQs allocated");
    }

    // ---------------------------------------------------------------- features

    [Test]
    public void Features_SetThenGet_AndDefaults()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver();
        (byte Fid, uint Value)[] settable =
        [
            (NvmeFeatureId.Arbitration, 0x0302_0103), (NvmeFeatureId.InterruptCoalescing, 0x0A04),
            (NvmeFeatureId.VolatileWriteCache, 0), (NvmeFeatureId.AsynchronousEventConfiguration, 0x100),
            (NvmeFeatureId.ErrorRecovery, 0x20), (NvmeFeatureId.WriteAtomicityNormal, 1), (NvmeFeatureId.TemperatureThreshold, 0x0150),
        ];
        foreach (var (fid, value) in settable)
        {
            Assert.That(Admin(d, NvmeAdminOpcode.SetFeatures, fid, value).Status, Is.EqualTo(NvmeStatus.Success), $"set 0x{fid:x2}");
            Assert.That(Admin(d, NvmeAdminOpcode.GetFeatures, fid).Dword0, Is.EqualTo(value), $"get 0x{fid:x2}");
        }
        Assert.That(Admin(d, NvmeAdminOpcode.GetFeatures, NvmeFeatureId.VolatileWriteCache | 1 << 8).Dword0, Is.EqualTo(1u), "SEL 001b: default");
        Assert.That(Admin(d, NvmeAdminOpcode.GetFeatures, NvmeFeatureId.InterruptCoalescing | 2 << 8).Dword0, Is.Zero, "SEL 010b: saved = default");
        Assert.That(Admin(d, NvmeAdminOpcode.GetFeatures, NvmeFeatureId.InterruptCoalescing | 3 << 8).Dword0, Is.EqualTo(0b100u), "SEL 011b: changeable only");
        // Under-temperature threshold is kept separately (THSEL 01b).
        Assert.That(Admin(d, NvmeAdminOpcode.SetFeatures, NvmeFeatureId.TemperatureThreshold, 0x0100 | 1u << 20).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(Admin(d, NvmeAdminOpcode.GetFeatures, NvmeFeatureId.TemperatureThreshold, 1u << 20).Dword0 & 0xFFFF, Is.EqualTo(0x100u));
        Assert.That(Admin(d, NvmeAdminOpcode.GetFeatures, NvmeFeatureId.TemperatureThreshold).Dword0, Is.EqualTo(0x150u));
        // Features return to defaults at a controller reset.
        d.DisableController();
        var d2 = p.ReadyDriver();
        Assert.That(Admin(d2, NvmeAdminOpcode.GetFeatures, NvmeFeatureId.InterruptCoalescing).Dword0, Is.Zero);
        Assert.That(Admin(d2, NvmeAdminOpcode.GetFeatures, NvmeFeatureId.VolatileWriteCache).Dword0, Is.EqualTo(1u));
    }

    [Test]
    public void Features_Errors()
    {
        var p = new NvmeTestPlatform(new NvmeControllerOptions { VolatileWriteCache = false });
        var d = p.ReadyDriver();
        Assert.That(Admin(d, NvmeAdminOpcode.SetFeatures, 0x7F).Status, Is.EqualTo(NvmeStatus.InvalidFieldInCommand), "unknown FID");
        Assert.That(Admin(d, NvmeAdminOpcode.GetFeatures, 0x7F).Status, Is.EqualTo(NvmeStatus.InvalidFieldInCommand));
        Assert.That(Admin(d, NvmeAdminOpcode.SetFeatures, NvmeFeatureId.VolatileWriteCache, 1).Status, Is.EqualTo(NvmeStatus.InvalidFieldInCommand), "no cache present");
        Assert.That(Admin(d, NvmeAdminOpcode.GetFeatures, NvmeFeatureId.VolatileWriteCache).Status, Is.EqualTo(NvmeStatus.InvalidFieldInCommand));
        Assert.That(Admin(d, NvmeAdminOpcode.SetFeatures, NvmeFeatureId.Arbitration | 1u << 31).Status, Is.EqualTo(NvmeStatus.FeatureIdentifierNotSaveable));
        Assert.That(Admin(d, NvmeAdminOpcode.SetFeatures, NvmeFeatureId.PowerManagement, 1).Status, Is.EqualTo(NvmeStatus.InvalidFieldInCommand), "NPSS = 0");
        Assert.That(Admin(d, NvmeAdminOpcode.GetFeatures, NvmeFeatureId.Arbitration | 4 << 8).Status, Is.EqualTo(NvmeStatus.InvalidFieldInCommand), "SEL 100b reserved");
        Assert.That(Admin(d, NvmeAdminOpcode.SetFeatures, NvmeFeatureId.InterruptVectorConfiguration, 0).Status, Is.EqualTo(NvmeStatus.InvalidFieldInCommand), "vector 0 stays uncoalesced");
        Assert.That(Admin(d, NvmeAdminOpcode.SetFeatures, NvmeFeatureId.InterruptVectorConfiguration, 1u | 1u << 16).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(Admin(d, NvmeAdminOpcode.GetFeatures, NvmeFeatureId.InterruptVectorConfiguration, 1).Dword0, Is.EqualTo(1u | 1u << 16));
        Assert.That(Admin(d, NvmeAdminOpcode.SetFeatures, NvmeFeatureId.InterruptVectorConfiguration, 99).Status, Is.EqualTo(NvmeStatus.InvalidFieldInCommand));
    }

    // ---------------------------------------------------------------- logs

    [Test]
    public void SmartLog_CountsHostCommandsAndDataUnits()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver();
        ulong buf = p.Memory.Allocate(0x10000);
        for (int i = 0; i < 3; i++) d.Write(1, 0, 128, buf); // 3 x 64 KiB = 384 units of 512 B
        d.Read(1, 0, 1, buf);
        var s = NvmeLogs.Read(d, NvmeLogPageId.SmartHealth, 512);
        Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(s.AsSpan(1)), Is.InRange(273, 373), "Composite Temperature in kelvins");
        Assert.That(s[3], Is.EqualTo(100), "Available Spare");
        Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(s.AsSpan(32)), Is.EqualTo(1UL), "Data Units Read: 1 unit of 512 B rounds up to 1 thousand");
        Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(s.AsSpan(48)), Is.EqualTo(1UL), "Data Units Written: 384 rounds up to 1");
        Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(s.AsSpan(64)), Is.EqualTo(1UL), "Host Read Commands");
        Assert.That(BinaryPrimitives.ReadUInt64LittleEndian(s.AsSpan(80)), Is.EqualTo(3UL), "Host Write Commands");
        Assert.That(NvmeLogs.ReadRaw(d, NvmeLogPageId.SmartHealth, 512, out _, nsid: 1).Status, Is.EqualTo(NvmeStatus.InvalidFieldInCommand), "no per-namespace SMART (LPA bit 0)");
    }

    [Test]
    public void FirmwareSlotLog_AndLogPageAddressing()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver();
        var fw = NvmeLogs.Read(d, NvmeLogPageId.FirmwareSlot, 512);
        Assert.That(fw[0], Is.EqualTo(1), "AFI: slot 1 active");
        Assert.That(Encoding.ASCII.GetString(fw, 8, 8), Is.EqualTo("1.0".PadRight(8)), "FRS1");
        var tail = NvmeLogs.Read(d, NvmeLogPageId.FirmwareSlot, 8, offset: 8);
        Assert.That(tail, Is.EqualTo(fw[8..16]), "Log Page Offset");
        Assert.That(NvmeLogs.ReadRaw(d, NvmeLogPageId.FirmwareSlot, 8, out _, offset: 2).Status, Is.EqualTo(NvmeStatus.InvalidFieldInCommand), "offset not dword aligned");
        Assert.That(NvmeLogs.ReadRaw(d, NvmeLogPageId.FirmwareSlot, 8, out _, offset: 512).Status, Is.EqualTo(NvmeStatus.InvalidFieldInCommand), "offset beyond the log");
        Assert.That(NvmeLogs.ReadRaw(d, 0x70, 64, out _).Status, Is.EqualTo(NvmeStatus.InvalidLogPage));
    }

    // ---------------------------------------------------------------- async events and abort

    [Test]
    public void AsyncEventRequest_StaysOutstanding_LimitIsAerl()
    {
        var p = new NvmeTestPlatform(new NvmeControllerOptions { AsyncEventRequestLimit = 2 });
        var d = p.ReadyDriver();
        var admin = d.AdminQueue!;
        d.Submit(admin, new NvmeSubmission { Opcode = NvmeAdminOpcode.AsynchronousEventRequest });
        d.Submit(admin, new NvmeSubmission { Opcode = NvmeAdminOpcode.AsynchronousEventRequest });
        Assert.That(d.TryReap(admin, out _), Is.False, "no event: both stay outstanding");
        var third = d.ExecuteAdmin(new NvmeSubmission { Opcode = NvmeAdminOpcode.AsynchronousEventRequest });
        Assert.That(third.Status, Is.EqualTo(NvmeStatus.AsynchronousEventRequestLimitExceeded));
    }

    [Test]
    public void Abort_OfAnOutstandingAer_CompletesItAsAbortRequested()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver();
        var admin = d.AdminQueue!;
        ushort aer = d.Submit(admin, new NvmeSubmission { Opcode = NvmeAdminOpcode.AsynchronousEventRequest });
        ushort abort = d.Submit(admin, new NvmeSubmission { Opcode = NvmeAdminOpcode.Abort, Cdw10 = 0u | (uint)aer << 16 });
        Assert.That(d.TryReap(admin, out var first), Is.True);
        Assert.That(first.CommandId, Is.EqualTo(aer));
        Assert.That(first.Status, Is.EqualTo(NvmeStatus.CommandAbortRequested));
        Assert.That(d.TryReap(admin, out var second), Is.True);
        Assert.That(second.CommandId, Is.EqualTo(abort));
        Assert.That(second.Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(second.Dword0 & 1, Is.Zero, "bit 0 clear: aborted");
        var none = d.ExecuteAdmin(new NvmeSubmission { Opcode = NvmeAdminOpcode.Abort, Cdw10 = 1u | 77u << 16 });
        Assert.That(none.Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(none.Dword0 & 1, Is.EqualTo(1u), "nothing to abort: not aborted");
    }

    [Test]
    public void UnknownAdminOpcode_AndPrimaryOnlyCommands_AreInvalidOpcode()
    {
        var p = new NvmeTestPlatform();
        var d = p.ReadyDriver();
        Assert.That(Admin(d, 0x7F).Status, Is.EqualTo(NvmeStatus.InvalidCommandOpcode));
        Assert.That(Admin(d, NvmeAdminOpcode.VirtualizationManagement).Status, Is.EqualTo(NvmeStatus.InvalidCommandOpcode), "not a primary controller");
        Assert.That(Admin(d, NvmeAdminOpcode.KeepAlive).Status, Is.EqualTo(NvmeStatus.InvalidCommandOpcode), "KAS = 0: no keep alive");
    }

    // ---------------------------------------------------------------- namespace attachment

    static NvmeCompletion Attach(NvmeDriver d, uint nsid, bool detach, params ushort[] controllers)
    {
        ulong list = d.Memory.Allocate(4096);
        var b = new byte[2 + 2 * controllers.Length];
        BinaryPrimitives.WriteUInt16LittleEndian(b, (ushort)controllers.Length);
        for (int i = 0; i < controllers.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(2 + 2 * i), controllers[i]);
        d.Memory.Memory.Write(list, b);
        var c = d.ExecuteAdmin(new NvmeSubmission { Opcode = NvmeAdminOpcode.NamespaceAttachment, Nsid = nsid, Prp1 = list, Cdw10 = detach ? 1u : 0u });
        d.Memory.Free(list);
        return c;
    }

    [Test]
    public void NamespaceAttachment_AttachDetach_ChangesWhatTheControllerSees()
    {
        var p = new NvmeTestPlatform();
        var ns2 = new MemoryNamespaceBackend(128);
        p.Subsystem.AddNamespace(2, ns2);
        var d = p.ReadyDriver();
        ulong buf = p.Memory.Allocate(4096);
        Assert.That(Attach(d, 2, false, NvmeTestPlatform.ControllerId).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(Nsids(d.IdentifyRaw(NvmeIdentifyCns.ActiveNamespaceList, 0)), Is.EqualTo(new uint[] { 1, 2 }));
        d.IdentifyNamespaces();
        Assert.That(d.Write(2, 0, 1, buf).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(ns2.Writes, Is.EqualTo(1));
        Assert.That(Attach(d, 2, false, NvmeTestPlatform.ControllerId).Status, Is.EqualTo(NvmeStatus.NamespaceAlreadyAttached));
        Assert.That(Attach(d, 2, true, NvmeTestPlatform.ControllerId).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(d.Write(2, 0, 1, buf).Status, Is.EqualTo(NvmeStatus.InvalidNamespaceOrFormat), "detached: inactive");
        Assert.That(Attach(d, 2, true, NvmeTestPlatform.ControllerId).Status, Is.EqualTo(NvmeStatus.NamespaceNotAttached));
        Assert.That(ns2.Writes, Is.EqualTo(1));
    }

    [Test]
    public void NamespaceAttachment_Errors()
    {
        var p = new NvmeTestPlatform();
        p.Subsystem.AddNamespace(2, new MemoryNamespaceBackend(8));
        var d = p.ReadyDriver();
        Assert.That(Attach(d, 2, false, 99).Status, Is.EqualTo(NvmeStatus.ControllerListInvalid), "unknown controller");
        Assert.That(Attach(d, 2, false).Status, Is.EqualTo(NvmeStatus.ControllerListInvalid), "empty list");
        Assert.That(Attach(d, 2, false, 1, 1).Status, Is.EqualTo(NvmeStatus.ControllerListInvalid), "duplicate");
        Assert.That(Attach(d, 9, false, 1).Status, Is.EqualTo(NvmeStatus.InvalidNamespaceOrFormat), "not allocated");
        Assert.That(Attach(d, 0xFFFF_FFFF, false, 1).Status, Is.EqualTo(NvmeStatus.InvalidFieldInCommand), "broadcast NSID");
        var reserved = d.ExecuteAdmin(new NvmeSubmission { Opcode = NvmeAdminOpcode.NamespaceAttachment, Nsid = 2, Cdw10 = 2 });
        Assert.That(reserved.Status, Is.EqualTo(NvmeStatus.InvalidFieldInCommand), "SEL 2 reserved");
        Assert.That(p.Subsystem.FindNamespace(2)!.AttachedControllers, Is.Empty);
    }

    [Test]
    public void PrivateNamespace_AttachesToOneControllerOnly()
    {
        var p = new NvmeTestPlatform();
        p.Subsystem.AddNamespace(2, new MemoryNamespaceBackend(8), shareable: false);
        // A second controller in the same subsystem (not on the fabric: only its ID matters here).
        var other = new NvmeController(new NvmeControllerOptions { ControllerId = 7 }, p.Subsystem);
        var d = p.ReadyDriver();
        Assert.That(Attach(d, 2, false, 1, 7).Status, Is.EqualTo(NvmeStatus.NamespaceIsPrivate));
        Assert.That(Attach(d, 2, false, 7).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(Attach(d, 2, false, 1).Status, Is.EqualTo(NvmeStatus.NamespaceIsPrivate));
        Assert.That(d.IdentifyRaw(NvmeIdentifyCns.Namespace, 2), Is.All.Zero, "attached to the other controller, inactive here");
        Assert.That(other.Subsystem.FindNamespace(2)!.AttachedControllers, Is.EqualTo(new ushort[] { 7 }));
    }

    [Test]
    public void AttachByManagement_RaisesNamespaceAttributeChanged_AndTheChangedList()
    {
        var p = new NvmeTestPlatform();
        p.Subsystem.AddNamespace(4, new MemoryNamespaceBackend(8));
        var d = p.ReadyDriver();
        // Enable Namespace Attribute Notices, then post a request.
        Assert.That(Admin(d, NvmeAdminOpcode.SetFeatures, NvmeFeatureId.AsynchronousEventConfiguration, 1u << 8).Status, Is.EqualTo(NvmeStatus.Success));
        var admin = d.AdminQueue!;
        ushort aer = d.Submit(admin, new NvmeSubmission { Opcode = NvmeAdminOpcode.AsynchronousEventRequest });
        Assert.That(p.Subsystem.Attach(4, NvmeTestPlatform.ControllerId), Is.EqualTo(NvmeStatus.Success));
        Assert.That(d.TryReap(admin, out var ev), Is.True);
        Assert.That(ev.CommandId, Is.EqualTo(aer));
        Assert.That(ev.Dword0 & 7, Is.EqualTo(2u), "Asynchronous Event Type: notice");
        Assert.That((ev.Dword0 >> 8) & 0xFF, Is.Zero, "Namespace Attribute Changed");
        Assert.That((ev.Dword0 >> 16) & 0xFF, Is.EqualTo(4u), "Log Page: Changed Namespace List");
        var list = NvmeLogs.Read(d, NvmeLogPageId.ChangedNamespaceList, 4096);
        Assert.That(Nsids(list), Is.EqualTo(new uint[] { 4 }));
        Assert.That(Nsids(NvmeLogs.Read(d, NvmeLogPageId.ChangedNamespaceList, 4096)), Is.Empty, "reading with RAE clear empties it");
    }

    [Test]
    public void AttachByOwnCommand_IsNotReportedBackToTheIssuer()
    {
        var p = new NvmeTestPlatform();
        p.Subsystem.AddNamespace(4, new MemoryNamespaceBackend(8));
        var d = p.ReadyDriver();
        Admin(d, NvmeAdminOpcode.SetFeatures, NvmeFeatureId.AsynchronousEventConfiguration, 1u << 8);
        var admin = d.AdminQueue!;
        d.Submit(admin, new NvmeSubmission { Opcode = NvmeAdminOpcode.AsynchronousEventRequest });
        Assert.That(Attach(d, 4, false, NvmeTestPlatform.ControllerId).Status, Is.EqualTo(NvmeStatus.Success));
        Assert.That(d.TryReap(admin, out _), Is.False, "the AER stays outstanding");
    }

    [Test]
    public void NotificationsDisabled_NoEvent_ButTheNamespaceIsVisible()
    {
        var p = new NvmeTestPlatform();
        p.Subsystem.AddNamespace(4, new MemoryNamespaceBackend(8));
        var d = p.ReadyDriver();
        var admin = d.AdminQueue!;
        d.Submit(admin, new NvmeSubmission { Opcode = NvmeAdminOpcode.AsynchronousEventRequest });
        p.Subsystem.Attach(4, NvmeTestPlatform.ControllerId);
        Assert.That(d.TryReap(admin, out _), Is.False);
        Assert.That(Nsids(d.IdentifyRaw(NvmeIdentifyCns.ActiveNamespaceList, 0)), Does.Contain(4u));
    }
}
