using PcieVirt.Devices.Media;
using PcieVirt.Devices.Raid;
using static PcieVirt.Tests.Devices.Raid.RaidTestKit;

namespace PcieVirt.Tests.Devices.Raid;

/// <summary>A member whose storage throws a host I/O error in the middle of a request.</summary>
[TestFixture]
public class MemberIoErrorTests
{
    /// <summary>Sparse storage that throws <see cref="IOException"/> on writes once armed.</summary>
    sealed class FaultyStore(long length) : IBlockStore
    {
        readonly SparseMemoryStore _inner = new(length);

        public bool FailWrites { get; set; }

        public long Length => _inner.Length;

        public long AllocatedBytes => _inner.AllocatedBytes;

        public void Read(long offset, Span<byte> destination) => _inner.Read(offset, destination);

        public void Write(long offset, ReadOnlySpan<byte> source)
        {
            if (FailWrites)
                throw new IOException("injected write error");
            _inner.Write(offset, source);
        }

        public void Zero(long offset, long length) => _inner.Zero(offset, length);

        public void Flush() => _inner.Flush();

        public void Dispose() => _inner.Dispose();
    }

    static (RaidEngine, FaultyStore[]) EngineWithFaultyDrives(int n)
    {
        var engine = new RaidEngine();
        var stores = new FaultyStore[n];
        for (int i = 0; i < n; i++)
        {
            stores[i] = new FaultyStore(1024 * 1024);
            var drive = new PhysicalDrive($"d{i}", DriveKind.NvmeFlash, 512, stores[i],
                new SolidStateLatencyModel(SolidStateLatencyParameters.NandFlash, (ulong)i));
            Assert.That(engine.AddDrive(drive).IsSuccess);
        }
        return (engine, stores);
    }

    [Test]
    public void ParityMemberFailingOnItsWrite_IsDropped_TheWriteCompletesAndStaysReadable()
    {
        (RaidEngine engine, FaultyStore[] stores) = EngineWithFaultyDrives(4);
        using (engine)
        {
            var v = (ParityVolume)CreateVolume(engine, RaidLevel.Raid5, 4, 16 * 1024);
            byte[] data = FillRandom(v, 1);
            // Block 0 is in stripe 0, whose P is on slot 3: the data write to d0 succeeds, then P's write throws.
            stores[3].FailWrites = true;
            var block = new byte[512];
            new Random(2).NextBytes(block);
            Assert.That(v.Write(0, 1, block).Status, Is.EqualTo(VolumeStatus.Success));
            block.CopyTo(data, 0);
            Assert.That(v.State, Is.EqualTo(VolumeState.Degraded));
            Assert.That(engine.FindDrive("d3")!.IsFailed, Is.True);
            Assert.That(ReadAll(v), Is.EqualTo(data));
            engine.FailDrive("d0"); // a second loss is one more than RAID 5 survives
            Assert.That(v.State, Is.EqualTo(VolumeState.Failed));
        }
    }

    [Test]
    public void DataMemberFailingOnItsWrite_NewDataIsKeptInParity()
    {
        (RaidEngine engine, FaultyStore[] stores) = EngineWithFaultyDrives(5);
        using (engine)
        {
            var v = (ParityVolume)CreateVolume(engine, RaidLevel.Raid6, 5, 16 * 1024);
            byte[] data = FillRandom(v, 3);
            // Block 0: stripe 0, data index 0 on slot (P + 2) mod 5 = (4 + 2) mod 5 = 1.
            stores[1].FailWrites = true;
            var blocks = new byte[8 * 512];
            new Random(4).NextBytes(blocks);
            Assert.That(v.Write(0, 8, blocks).Status, Is.EqualTo(VolumeStatus.Success));
            blocks.CopyTo(data, 0);
            Assert.That(v.Members[1].State, Is.EqualTo(MemberState.Missing));
            Assert.That(ReadAll(v), Is.EqualTo(data), "d1's new contents reconstructed from P and Q");
        }
    }
}
