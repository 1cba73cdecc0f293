// RTNeural's templated layers (Eigen backend), microseconds per forward step: the median
// of 15 rounds of 2000 steps, the shapes of vrnn-core's `cell/` benchmarks.
#include <RTNeural/RTNeural.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

static std::mt19937 rng(1);
static std::vector<std::vector<float>> mat(int r, int c) {
    std::normal_distribution<float> d(0.0f, 0.05f);
    std::vector<std::vector<float>> m(r, std::vector<float>(c));
    for (auto& row : m) for (auto& v : row) v = d(rng);
    return m;
}

template <typename F> static double median_us(F&& step) {
    std::vector<double> t;
    for (int r = 0; r < 15; ++r) {
        auto a = std::chrono::steady_clock::now();
        for (int i = 0; i < 2000; ++i) step(i);
        auto b = std::chrono::steady_clock::now();
        t.push_back(std::chrono::duration<double, std::micro>(b - a).count() / 2000.0);
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

template <int H> static void gru() {
    static RTNeural::GRULayerT<float, 64, H> l;
    l.setWVals(mat(64, 3 * H)); l.setUVals(mat(H, 3 * H)); l.setBVals(mat(2, 3 * H)); l.reset();
    Eigen::Matrix<float, 64, 1> x = Eigen::Matrix<float, 64, 1>::Random();
    double us = median_us([&](int i) { x(i % 64) = l.outs(0); l.forward(x); });
    std::printf("gru-64-%d %.3f us\n", H, us);
}

template <int H> static void lstm() {
    static RTNeural::LSTMLayerT<float, 64, H> l;
    l.setWVals(mat(64, 4 * H)); l.setUVals(mat(H, 4 * H)); l.setBVals(mat(1, 4 * H)[0]); l.reset();
    Eigen::Matrix<float, 64, 1> x = Eigen::Matrix<float, 64, 1>::Random();
    double us = median_us([&](int i) { x(i % 64) = l.outs(0); l.forward(x); });
    std::printf("lstm-64-%d %.3f us\n", H, us);
}

static void dense() {
    static RTNeural::DenseT<float, 1024, 400> l;
    l.setWeights(mat(400, 1024)); auto b = mat(1, 400)[0]; l.setBias(b.data());
    Eigen::Matrix<float, 1024, 1> x = Eigen::Matrix<float, 1024, 1>::Random();
    double us = median_us([&](int i) { x(i % 1024) = l.outs(0) * 1e-3f; l.forward(x); });
    std::printf("dense-1024-400 %.3f us\n", us);
}

int main() {
    gru<256>(); gru<512>(); gru<1024>();
    lstm<256>(); lstm<512>(); lstm<1024>();
    dense();
}
