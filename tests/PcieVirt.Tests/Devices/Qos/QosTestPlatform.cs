using Microsoft.Extensions.Logging;
using PcieVirt.Devices.Driver;
using PcieVirt.Devices.Nvme;
using PcieVirt.Devices.Nvme.Qos;
using PcieVirt.Fabric;
using PcieVirt.Pci;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Functions;
using PcieVirt.Tests.Devices.Nvme;
using PcieVirt.Tests.Fabric;
using PcieVirt.Tests.Support;

namespace PcieVirt.Tests.Devices.Qos;

/// <summary>
/// Two NVMe controllers of ONE subsystem, each on its own root port, sharing one media model (one
/// channel): <code>
/// 00:01.0 ── 01:00.0 nvme A (CNTLID 1, namespace 1)
/// 00:02.0 ── 02:00.0 nvme B (CNTLID 2, namespace 2)
/// </code>
/// Every 4 KiB read costs 1 us controller overhead + 10 us + 4 x 250 ns media time = 12 us.
/// With <c>qos</c> both controllers are under a <see cref="QosArbiter"/>; without it they fetch on
/// their own (first come, first served at the media).
/// </summary>
internal sealed class QosTestPlatform
{
    public const ulong Read4KServiceNs = 1_000 + 10_000 + 4 * 250;
    public const ulong NsBlocks = 65536;

    public QosTestPlatform(bool qos, int channels = 1, LogLevel logLevel = LogLevel.Warning)
    {
        LoggerFactory = RecordingLogger.Factory(Logs, logLevel);
        Rc = new RootComplex(FabricTestKit.Options(), LoggerFactory);
        Subsystem = new NvmeSubsystem("nqn.2024-01.io.pcievirt:qos", 16, LoggerFactory.CreateLogger("nvme-subsystem"));
        Subsystem.AddNamespace(1, new MemoryNamespaceBackend(NsBlocks, 512));
        Subsystem.AddNamespace(2, new MemoryNamespaceBackend(NsBlocks, 512));
        Media = new NvmeMediaModel(channels);
        A = AddController(1, "nvmeA");
        B = AddController(2, "nvmeB");
        Assert.That(Subsystem.Attach(1, 1), Is.EqualTo(NvmeStatus.Success));
        Assert.That(Subsystem.Attach(2, 2), Is.EqualTo(NvmeStatus.Success));
        var report = new FirmwareEnumerator(Rc).Enumerate();
        Assert.That(report.Failures, Is.Empty, "enumeration");
        if (qos)
        {
            Arbiter = new QosArbiter(Media, () => Clock.NowNs);
            Arbiter.Add(A.Controller);
            Arbiter.Add(B.Controller);
        }
        else
        {
            A.Controller.Media = Media;
            B.Controller.Media = Media;
        }
        Memory = new HostMemoryAllocator(Rc.HostMemory, 0x100_0000, 0x400_0000);
        Time = new DelegateTimebase(() => Clock.NowNs, NextEvent, AdvanceTo);
    }

    NvmeEndpointFunction AddController(ushort cntlid, string name)
    {
        var port = Rc.AddRootPort(cntlid, 0, FabricTestKit.Port($"rp{cntlid}", BridgePortKind.RootPort));
        var f = new NvmeEndpointFunction(name,
            new FunctionIdentity { VendorId = 0x1B36, DeviceId = 0x0010, ClassCode = NvmeEndpointFunction.RaidClassCode, SubsystemVendorId = 0x1B36 },
            new NvmeControllerOptions { ControllerId = cntlid }, Subsystem, LoggerFactory.CreateLogger(name));
        f.AddCapability(new PciExpressCapability(new PciExpressOptions { FlrCapable = true }));
        f.Seal();
        f.Controller.Clock = () => Clock.NowNs;
        port.ConnectDevice(f);
        return f;
    }

    public RecordingLogger Logs { get; } = new();
    public ILoggerFactory LoggerFactory { get; }
    public ManualClock Clock { get; } = new();
    public RootComplex Rc { get; }
    public NvmeSubsystem Subsystem { get; }
    public NvmeMediaModel Media { get; }
    public NvmeEndpointFunction A { get; }
    public NvmeEndpointFunction B { get; }
    public QosArbiter? Arbiter { get; }
    public HostMemoryAllocator Memory { get; }
    public IWorkloadTimebase Time { get; }

    ulong NextEvent() => Arbiter?.NextEventNs ?? Math.Min(A.Controller.NextCompletionNs, B.Controller.NextCompletionNs);

    void AdvanceTo(ulong t)
    {
        if (t > Clock.NowNs) Clock.NowNs = t;
        if (Arbiter != null) Arbiter.Run();
        else
        {
            A.Controller.ProcessPending();
            B.Controller.ProcessPending();
        }
    }

    public NvmeDriver ReadyDriver(NvmeEndpointFunction f, int ioQueueEntries = 64)
    {
        var d = new NvmeDriver(Rc, f.Bdf, Memory, new NvmeDriverOptions
        {
            IoQueueEntries = ioQueueEntries,
            Clock = () => Clock.NowNs,
            AdvanceClock = Clock.Advance,
            Pump = () => AdvanceTo(Math.Max(Clock.NowNs, NextEvent() == ulong.MaxValue ? Clock.NowNs : NextEvent())),
        });
        d.Initialize();
        return d;
    }
}
