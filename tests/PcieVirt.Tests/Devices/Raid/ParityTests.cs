using PcieVirt.Devices.Raid;

namespace PcieVirt.Tests.Devices.Raid;

/// <summary>P = XOR of the data, Q = Σ g^i·D_i, and the one- and two-chunk recoveries.</summary>
[TestFixture]
public class ParityTests
{
    [TestCase(new byte[] { 0x01, 0x01 }, 0x00, 0x03, TestName = "Q = 1·1 ⊕ 2·1 = 3")]
    [TestCase(new byte[] { 0x80, 0x80 }, 0x00, 0x9D, TestName = "Q = 0x80 ⊕ 2·0x80 = 0x80 ⊕ 0x1D = 0x9D")]
    [TestCase(new byte[] { 0x01, 0x02, 0x04 }, 0x07, 0x15, TestName = "Q = 1 ⊕ 2·2 ⊕ 4·4 = 1 ⊕ 4 ⊕ 0x10 = 0x15")]
    [TestCase(new byte[] { 0x80, 0x80, 0x80 }, 0x80, 0xA7, TestName = "Q = 0x80 ⊕ 0x1D ⊕ 0x3A = 0xA7")]
    [TestCase(new byte[] { 0x00, 0x00, 0x01 }, 0x01, 0x04, TestName = "Q of D2 alone = g^2 = 4")]
    public void Compute_SingleByteChunks_HandComputedPAndQ(byte[] data, int p, int q)
    {
        var pBuf = new byte[1];
        var qBuf = new byte[1];
        Parity.Compute(data, data.Length, 1, 1, pBuf, qBuf);
        Assert.That(pBuf[0], Is.EqualTo(p), "P");
        Assert.That(qBuf[0], Is.EqualTo(q), "Q");
    }

    [Test]
    public void MultiplyByGenerator_WordPathAndTail_AgreeWithFieldMultiply()
    {
        // 259 bytes: 32 eight-byte words (the packed path) and a 3-byte tail.
        byte[] data = Enumerable.Range(0, 259).Select(i => (byte)(i * 37 + 11)).ToArray();
        var expected = data.Select(b => GaloisField.Multiply(b, 2)).ToArray();
        Parity.MultiplyByGenerator(data);
        Assert.That(data, Is.EqualTo(expected));
    }

    [Test]
    public void Xor_OddLength_XorsEveryByte()
    {
        var rng = new Random(5);
        var a = new byte[1031];
        var b = new byte[1031];
        rng.NextBytes(a);
        rng.NextBytes(b);
        var expected = a.Zip(b, (x, y) => (byte)(x ^ y)).ToArray();
        Parity.Xor(a, b);
        Assert.That(b, Is.EqualTo(expected));
    }

    [Test]
    public void RecoverTwo_EveryPairOfFiveDataChunks_RestoresBoth()
    {
        const int k = 5, len = 64;
        var rng = new Random(11);
        var data = new byte[k * len];
        rng.NextBytes(data);
        var p = new byte[len];
        var q = new byte[len];
        Parity.Compute(data, k, len, len, p, q);
        for (int x = 0; x < k; x++)
        {
            for (int y = x + 1; y < k; y++)
            {
                var work = (byte[])data.Clone();
                ulong missing = (1UL << x) | (1UL << y);
                Span<byte> dx = work.AsSpan(x * len, len), dy = work.AsSpan(y * len, len);
                dx.Fill(0xEE); // garbage: must be overwritten
                dy.Fill(0xEE);
                Parity.ComputePartial(work, k, len, len, missing, dx, dy);
                Parity.Xor(p, dx);
                Parity.Xor(q, dy);
                Parity.RecoverTwo(x, y, dx, dy);
                Assert.That(work, Is.EqualTo(data), $"lost D{x} and D{y}");
            }
        }
    }

    [Test]
    public void RecoverFromQ_EachSingleChunk_Restores()
    {
        const int k = 4, len = 32;
        var rng = new Random(12);
        var data = new byte[k * len];
        rng.NextBytes(data);
        var p = new byte[len];
        var q = new byte[len];
        Parity.Compute(data, k, len, len, p, q);
        for (int x = 0; x < k; x++)
        {
            var work = (byte[])data.Clone();
            Span<byte> dx = work.AsSpan(x * len, len);
            Parity.ComputePartial(work, k, len, len, 1UL << x, [], dx);
            Parity.RecoverFromQ(x, q, dx);
            Assert.That(work, Is.EqualTo(data), $"lost D{x} and P");
        }
    }
}
